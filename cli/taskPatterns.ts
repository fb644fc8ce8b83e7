/**
 * Task ids chosen by pattern: `qa-*`, `gec-??`, plain ids, comma-separated or one a line in a file,
 * matched against the catalogue (GET /v1/tasks). Used by `run --tasks`/`--tasks-from`, `tasks list`
 * and `apply`.
 */
import { readFile } from "node:fs/promises";
import type { TaskRecord } from "../src/catalogue/task.ts";
import { CliError, UsageError } from "./errors.ts";

/** Whether `pattern` has a wildcard (`*` any run of characters, `?` one). */
export const isGlob = (pattern: string) => /[*?]/.test(pattern);

/** The pattern as an anchored regular expression; every other character stands for itself. */
export function globRegExp(pattern: string): RegExp {
  const body = pattern
    .replace(/[.+^${}()|[\]\\]/g, "\\$&")
    .replace(/\*/g, ".*")
    .replace(/\?/g, ".");
  return new RegExp(`^${body}$`);
}

/**
 * The ids of `tasks` that the patterns match, sorted, each once. A pattern that matches none is a
 * usage error naming it: a typo must not quietly shrink a run. `what` names where the patterns came from.
 */
export function matchTasks(patterns: readonly string[], tasks: readonly TaskRecord[], what: string): string[] {
  const ids = tasks.map((t) => t.id);
  const chosen = new Set<string>();
  const unmatched: string[] = [];
  for (const pattern of patterns) {
    const re = globRegExp(pattern);
    const hits = ids.filter((id) => re.test(id));
    if (hits.length === 0) unmatched.push(pattern);
    for (const id of hits) chosen.add(id);
  }
  if (unmatched.length) {
    const named = unmatched.map((p) => JSON.stringify(p)).join(", ");
    throw new UsageError(`${what}: ${named} matches no task of the catalogue (${ids.length} tasks)`);
  }
  return [...chosen].sort();
}

/** The patterns of a `--tasks-from` file: one id or glob a line; blank lines and `#` comments are skipped. */
export async function patternsFromFile(path: string): Promise<string[]> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (e) {
    throw new CliError(`--tasks-from ${path}: ${(e as NodeJS.ErrnoException).code === "ENOENT" ? "no such file" : e}`);
  }
  const patterns = text
    .split("\n")
    .map((line) => line.replace(/#.*/, "").trim())
    .filter(Boolean);
  if (patterns.length === 0) throw new UsageError(`--tasks-from ${path}: no task id or pattern in it`);
  return patterns;
}
