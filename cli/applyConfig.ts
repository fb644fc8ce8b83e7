/**
 * The declarative file `d2c-edge apply -f` reads (as mergekit reads a merge's YAML): device profiles
 * by id, as `PUT /v1/profiles/:id` takes them, and runs, as `POST /v1/runs` takes them, one per
 * profile. Checked whole, by the server's own schemas, before any request: an error names the file,
 * the line and the field.
 */
import { readFile } from "node:fs/promises";
import { isMap, isScalar, isSeq, LineCounter, parseDocument, type Document } from "yaml";
import { ProfileSchema } from "../src/delivery/profiles.ts";
import { RunRequest } from "../src/runs/request.ts";
import { CliError, UsageError } from "./errors.ts";

/** The server's id rule (src/api/validate.ts). */
const ID = /^[a-z0-9][a-z0-9._-]{0,63}$/;
/**
 * Run fields apply refuses: K comes from the run's profile; `cache`, `prune` and `parts` are not
 * reported back by GET /v1/runs/:id, so apply could not tell whether the newest run used them.
 */
const NOT_IN_APPLY: Record<string, string> = {
  k: "K comes from the profile's budget in apply: set the profile's budget.maxAdapters",
  budget: "the budget is the profile's in apply: set it in profiles.<id>.budget",
  cache: "not reported by GET /v1/runs/:id, so apply could not compare it: use d2c-edge run",
  prune: "not reported by GET /v1/runs/:id, so apply could not compare it: use d2c-edge run",
  parts: "not reported by GET /v1/runs/:id, so apply could not compare it: use d2c-edge run",
};

export interface ProfileEntry {
  readonly id: string;
  /** The PUT body as the file states it (`modelId` may be left to the catalogue's only model). */
  readonly body: Record<string, unknown>;
}

export interface RunEntry {
  /** `runs[i]`, for messages. */
  readonly where: string;
  readonly profile: string;
  /** The request with the server's defaults filled in (what is compared with the newest run). */
  readonly request: RunRequest;
  /** The fields the file states, as stated (what is sent, with the task patterns resolved). */
  readonly stated: Record<string, unknown>;
  /** Task ids and globs; absent: every task of the profile's model with few-shot examples. */
  readonly patterns?: string[];
}

export interface ApplyConfig {
  readonly profiles: ProfileEntry[];
  readonly runs: RunEntry[];
}

export async function readApplyConfig(file: string): Promise<ApplyConfig> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (e) {
    throw new CliError(`-f ${file}: ${(e as NodeJS.ErrnoException).code === "ENOENT" ? "no such file" : e}`);
  }
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: true });
  if (doc.errors.length) {
    const error = doc.errors[0];
    // The message's first line, without the position it ends with (the prefix says it).
    const message = error.message.split("\n")[0].replace(/ at line \d+, column \d+:?$/, "");
    throw new UsageError(`${file}:${error.linePos?.[0].line ?? 1}: ${message}`);
  }
  const fail = (path: readonly (string | number)[], message: string): never => {
    const field = path.map((p, i) => (typeof p === "number" ? `[${p}]` : i ? `.${p}` : p)).join("");
    throw new UsageError(`${file}:${lineOf(doc, lineCounter, path)}: ${field ? `${field}: ` : ""}${message}`);
  };
  const root: unknown = doc.toJS();
  if (!isObject(root)) return fail([], "the file must be a map with profiles and/or runs");
  for (const key of Object.keys(root))
    if (key !== "profiles" && key !== "runs") fail([key], "unknown field (the file has profiles and runs)");
  const profiles = profileEntries(root.profiles, fail);
  return { profiles, runs: runEntries(root.runs, fail) };
}

type Fail = (path: readonly (string | number)[], message: string) => never;

function profileEntries(value: unknown, fail: Fail): ProfileEntry[] {
  if (value === undefined || value === null) return [];
  if (!isObject(value)) return fail(["profiles"], "must be a map of profile id to profile");
  return Object.entries(value).map(([id, body]) => {
    if (!ID.test(id)) fail(["profiles", id], `a profile id must match ${ID}`);
    if (!isObject(body)) return fail(["profiles", id], "must be a map (the fields of PUT /v1/profiles/:id)");
    // The model may be left out, as with d2c-edge profile: a placeholder lets the rest be checked now.
    const parsed = ProfileSchema.safeParse({ modelId: "placeholder", ...body });
    if (!parsed.success) {
      fail(["profiles", id, ...issuePath(parsed.error.issues[0])], parsed.error.issues[0].message);
    }
    return { id, body };
  });
}

function runEntries(value: unknown, fail: Fail): RunEntry[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) return fail(["runs"], "must be a list of runs");
  const seen = new Map<string, number>();
  return value.map((entry: unknown, i): RunEntry => {
    const at = ["runs", i];
    if (!isObject(entry)) return fail(at, "must be a map (the fields of POST /v1/runs)");
    for (const [key, why] of Object.entries(NOT_IN_APPLY)) if (key in entry) fail([...at, key], why);
    const profile = entry.profile;
    if (typeof profile !== "string") return fail([...at, "profile"], "required: the profile the run is for");
    if (seen.has(profile))
      fail([...at, "profile"], `runs[${seen.get(profile)}] is already for ${profile}: one run each`);
    seen.set(profile, i);
    const tasks = entry.tasks;
    const patterns = typeof tasks === "string" ? [tasks] : tasks;
    if (patterns !== undefined && (!Array.isArray(patterns) || !patterns.every((p) => typeof p === "string" && p)))
      fail([...at, "tasks"], "task ids or globs: a string or a list of strings");
    const parsed = RunRequest.safeParse({ ...entry, ...(patterns ? { tasks: patterns } : {}) });
    if (!parsed.success) {
      return fail([...at, ...issuePath(parsed.error.issues[0])], parsed.error.issues[0].message);
    }
    const { tasks: _, ...stated } = entry;
    return { where: `runs[${i}]`, profile, request: parsed.data, stated, ...(patterns ? { patterns } : {}) };
  });
}

/** Where a schema issue is; an unknown field's issue points at its map, so the field is added. */
function issuePath(issue: { path: PropertyKey[]; code: string; keys?: string[] }): (string | number)[] {
  const path = issue.path.filter((p): p is string | number => typeof p !== "symbol");
  return issue.code === "unrecognized_keys" && issue.keys?.length ? [...path, issue.keys[0]] : path;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

/** The line of the deepest node of `path` the file has (a missing field: its parent's line). */
function lineOf(doc: Document, lines: LineCounter, path: readonly (string | number)[]): number {
  let node: unknown = doc.contents;
  let line = 1;
  for (const step of path) {
    let at: { range?: [number, number, number] | null } | undefined;
    if (isMap(node)) {
      const pair = node.items.find((p) => isScalar(p.key) && String(p.key.value) === String(step));
      // A field's line is its key's: a map or list value starts on the line after it.
      at = pair?.key as typeof at;
      node = pair?.value;
    } else if (isSeq(node)) {
      node = node.items[Number(step)];
      at = node as typeof at;
    } else break;
    if (!at?.range) break;
    line = lines.linePos(at.range[0]).line;
  }
  return line;
}
