/**
 * An expected failure of the domain (a run, a release, a catalogue rule), coded so that the API
 * can render it and the cron can branch on it, without the domain knowing about HTTP.
 * `src/api/errors.ts` maps each kind to its status in the one `onError`.
 */
export type ErrorKind =
  /** The request contradicts itself or a rule (400). */
  | "invalid"
  /** A named thing does not exist (404). */
  | "not_found"
  /** The state does not allow it now (409). */
  | "conflict"
  /** Well-formed, but the thing cannot be done with these inputs (422). */
  | "unprocessable"
  /** A configuration the operator must supply is missing (503). */
  | "unavailable";

export class DomainError extends Error {
  constructor(
    readonly kind: ErrorKind,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = "DomainError";
  }
}

/** Characters of a request's own value an error message repeats back at most, by default. */
export const QUOTED_MAX = 64;

/**
 * `value` as JSON for an error message, cut to `max` characters with an ellipsis and its full
 * length when longer: a 200 KB header must not come back whole in the 400 that refuses it.
 */
export function quoted(value: unknown, max = QUOTED_MAX): string {
  const json = JSON.stringify(value) ?? String(value);
  const text = typeof value === "string" ? value : json;
  if (text.length <= max) return json;
  const cut = cutAt(text, max);
  return typeof value === "string"
    ? `${JSON.stringify(cut).slice(0, -1)}…" (${text.length} characters)`
    : `${cut}… (${text.length} characters of JSON)`;
}

/** The first `max` UTF-16 units of `text`, less a high surrogate whose pair the cut would split. */
export function cutAt(text: string, max: number): string {
  const cut = text.slice(0, max);
  const last = cut.charCodeAt(cut.length - 1);
  return last >= 0xd800 && last <= 0xdbff ? cut.slice(0, -1) : cut;
}
