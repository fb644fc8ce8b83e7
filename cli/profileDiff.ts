/**
 * A device profile as the server would store a PUT body, and how it differs from the stored one:
 * `profile --dry-run` and `apply` decide with it whether a PUT would change anything.
 */
import { ProfileSchema, type Profile, type StoredProfile } from "../src/delivery/profiles.ts";
import { CliError } from "./errors.ts";

/** The fields the server keeps itself, not part of what a PUT states. */
const KEPT_BY_SERVER = new Set(["id", "version", "updatedAt"]);

/**
 * `body` with the server's defaults filled in, by the server's own schema (so "unchanged" means what
 * the server would store); a body it would refuse throws, naming the field, via `refused`.
 */
export function storedForm(body: unknown, refused: (field: string, message: string) => Error): Profile {
  const parsed = ProfileSchema.safeParse(body);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  throw refused(issue.path.join("."), issue.message);
}

export const dryRunRefusal = (field: string, message: string) =>
  new CliError(`the server would refuse it: ${field ? `${field}: ` : ""}${message}`);

/** "field: before -> after" for every field that differs (dotted paths into budget, match, task sets). */
export function profileChanges(stored: StoredProfile | undefined, wanted: Profile): string[] {
  const before = stored ? flatten(withoutServerFields(stored)) : new Map<string, string>();
  const after = flatten(wanted as unknown as Record<string, unknown>);
  const changes: string[] = [];
  for (const key of [...new Set([...before.keys(), ...after.keys()])].sort()) {
    const [was, now] = [before.get(key), after.get(key)];
    if (was !== now) changes.push(`${key}: ${was ?? "-"} -> ${now ?? "-"}`);
  }
  return changes;
}

function withoutServerFields(stored: StoredProfile): Record<string, unknown> {
  return Object.fromEntries(Object.entries(stored).filter(([key]) => !KEPT_BY_SERVER.has(key)));
}

/** Leaves by dotted path, each shown as a string (lists comma-joined); empty objects leave no entry. */
function flatten(value: Record<string, unknown>, prefix = "", into = new Map<string, string>()): Map<string, string> {
  for (const [key, v] of Object.entries(value)) {
    const path = prefix + key;
    if (v === undefined) continue;
    if (v !== null && typeof v === "object" && !Array.isArray(v))
      flatten(v as Record<string, unknown>, `${path}.`, into);
    else into.set(path, Array.isArray(v) ? v.join(",") : String(v));
  }
  return into;
}
