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
  constructor(readonly kind: ErrorKind, readonly code: string, message: string) {
    super(message);
    this.name = "DomainError";
  }
}
