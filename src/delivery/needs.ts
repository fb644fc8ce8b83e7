/**
 * What a device needs (issue 14): its languages and apps, stated as `locales=de,en&apps=gec,reply`
 * on `GET /v1/manifest` or as the headers X-Device-Locales and X-Device-Apps, or a task set its
 * profile names (`taskSet=keyboard`, X-Device-Task-Set). Languages and apps map to tasks by their
 * `language` and `application` fields; the need becomes a canonical subset key, the same for every
 * device with the same tasks, whatever order or case they were stated in.
 */
import { quoted } from "../errors";
import { sha256Hex } from "../storage/sha256";

export interface DeviceNeed {
  readonly locales: readonly string[];
  readonly apps: readonly string[];
  /** A task set the profile declares by name (then locales and apps are empty). */
  readonly taskSet?: string;
}

/** A task as the mapping sees it. */
export interface NeedTask {
  readonly id: string;
  readonly language?: string;
  readonly application?: string;
}

/** Entries per list, and their form: a language, app or task set name, as task fields and profiles hold them. */
export const MAX_NEED_ENTRIES = 16;
export const NEED_NAME = /^[a-z0-9][a-z0-9_-]{0,31}$/;

/**
 * The need from its two lists (query value or header, comma-separated) or a task set's name, null
 * when the device states none; a RangeError names what is malformed. Stating only one list means
 * every value of the other (a German phone with every app).
 */
export function parseNeed(locales: string | undefined, apps: string | undefined, taskSet?: string): DeviceNeed | null {
  if (taskSet !== undefined) {
    if (locales !== undefined || apps !== undefined)
      throw new RangeError("taskSet: give a task set or locales and apps, not both");
    const name = taskSet.trim().toLowerCase();
    if (!NEED_NAME.test(name))
      throw new RangeError(`taskSet: ${quoted(taskSet)} is not a task set name (letters, digits, - and _, at most 32)`);
    return { locales: [], apps: [], taskSet: name };
  }
  if (locales === undefined && apps === undefined) return null;
  return { locales: list("locales", locales), apps: list("apps", apps) };
}

function list(name: string, value: string | undefined): string[] {
  if (value === undefined) return [];
  const entries = [
    ...new Set(
      value
        .split(",")
        .map((v) => v.trim().toLowerCase())
        .filter(Boolean),
    ),
  ].sort();
  if (entries.length === 0) throw new RangeError(`${name}: give at least one value, comma-separated`);
  if (entries.length > MAX_NEED_ENTRIES)
    throw new RangeError(`${name}: at most ${MAX_NEED_ENTRIES} values, got ${entries.length}`);
  const bad = entries.find((e) => !NEED_NAME.test(e));
  if (bad !== undefined)
    throw new RangeError(
      `${name}: ${quoted(bad)} is not a language or app name (letters, digits, - and _, at most 32)`,
    );
  return entries;
}

/**
 * The tasks a need covers, sorted by id: a named set's tasks that the catalogue has, or those with
 * language in `locales` (any, if none stated) and application in `apps` (likewise).
 */
export function tasksFor(
  need: DeviceNeed,
  tasks: readonly NeedTask[],
  taskSets: Readonly<Record<string, readonly string[]>> = {},
): string[] {
  if (need.taskSet !== undefined) {
    const named = new Set(Object.hasOwn(taskSets, need.taskSet) ? taskSets[need.taskSet] : []);
    return tasks
      .filter((t) => named.has(t.id))
      .map((t) => t.id)
      .sort();
  }
  const wants = (stated: readonly string[], value: string | undefined) =>
    stated.length === 0 || (value !== undefined && stated.includes(value.toLowerCase()));
  return tasks
    .filter((t) => wants(need.locales, t.language) && wants(need.apps, t.application))
    .map((t) => t.id)
    .sort();
}

/** The subset's key: the first 16 hex digits of the sha256 of its sorted task ids (a KV key and a URL segment). */
export async function subsetKey(taskIds: readonly string[]): Promise<string> {
  return (await sha256Hex([...taskIds].sort().join("\n"))).slice(0, 16);
}
