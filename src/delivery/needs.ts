/**
 * What a device needs (issue 14): its languages and apps, stated as `locales=de,en&apps=gec,reply`
 * on `GET /v1/manifest` or as the headers X-Device-Locales and X-Device-Apps. Tasks map by
 * their `language` and `application` fields; the need becomes a canonical subset key, the same
 * for every device with the same tasks, whatever order or case they were stated in.
 */
import { sha256Hex } from "../storage/sha256";

export interface DeviceNeed {
  readonly locales: readonly string[];
  readonly apps: readonly string[];
}

/** A task as the mapping sees it. */
export interface NeedTask {
  readonly id: string;
  readonly language?: string;
  readonly application?: string;
}

/** Entries per list, and their form: a language or app name, as task fields hold them. */
export const MAX_NEED_ENTRIES = 16;
const ENTRY = /^[a-z0-9][a-z0-9_-]{0,31}$/;

/**
 * The need from its two lists (query value or header, comma-separated), null when the device
 * states none; a RangeError names a malformed list. Stating only one list means every value of
 * the other (a German phone with every app).
 */
export function parseNeed(locales: string | undefined, apps: string | undefined): DeviceNeed | null {
  if (locales === undefined && apps === undefined) return null;
  return { locales: list("locales", locales), apps: list("apps", apps) };
}

function list(name: string, value: string | undefined): string[] {
  if (value === undefined) return [];
  const entries = [...new Set(value.split(",").map((v) => v.trim().toLowerCase()).filter(Boolean))].sort();
  if (entries.length === 0) throw new RangeError(`${name}: give at least one value, comma-separated`);
  if (entries.length > MAX_NEED_ENTRIES) throw new RangeError(`${name}: at most ${MAX_NEED_ENTRIES} values, got ${entries.length}`);
  const bad = entries.find((e) => !ENTRY.test(e));
  if (bad !== undefined) throw new RangeError(`${name}: ${JSON.stringify(bad)} is not a language or app name (letters, digits, - and _, at most 32)`);
  return entries;
}

/** The tasks a need covers, sorted by id: language in `locales` (any, if none stated) and application in `apps` (likewise). */
export function tasksFor(need: DeviceNeed, tasks: readonly NeedTask[]): string[] {
  const wants = (stated: readonly string[], value: string | undefined) => stated.length === 0 || (value !== undefined && stated.includes(value.toLowerCase()));
  return tasks.filter((t) => wants(need.locales, t.language) && wants(need.apps, t.application)).map((t) => t.id).sort();
}

/** The subset's key: the first 16 hex digits of the sha256 of its sorted task ids (a KV key and a URL segment). */
export async function subsetKey(taskIds: readonly string[]): Promise<string> {
  return (await sha256Hex([...taskIds].sort().join("\n"))).slice(0, 16);
}
