/**
 * RFC 9110 preconditions (section 13) of a GET for a stored object with an ETag and an upload
 * time: If-Match (strong comparison) and If-Unmodified-Since fail with 412, If-None-Match (weak
 * comparison) and If-Modified-Since answer 304, evaluated in the RFC's order (13.2.2). A
 * malformed entity-tag list is a 400 naming its header; a malformed date is ignored, as the RFC
 * requires.
 */
import { quoted } from "../errors";
import { ApiError } from "./errors";

interface EntityTag {
  readonly weak: boolean;
  readonly opaque: string;
}

/** `*`, or the list's entity-tags. */
type TagList = "*" | readonly EntityTag[];

// entity-tag = [ "W/" ] DQUOTE *etagc DQUOTE, etagc = %x21 / %x23-7E / obs-text; list elements
// are separated by commas with optional whitespace, and empty elements are allowed (5.6.1).
// One run of optional whitespace on each side, so a long run of blanks backtracks linearly.
const ELEMENT = /^[ \t]*(?:(W\/)?("[\x21\x23-\x7e\x80-\xff]*")[ \t]*)?(?:,|$)/;

/** An If-Match or If-None-Match value, or a 400 naming the header. */
export function parseTagList(header: "If-Match" | "If-None-Match", value: string): TagList {
  if (value.trim() === "*") return "*";
  const tags: EntityTag[] = [];
  let rest = value;
  while (rest.length > 0) {
    const m = ELEMENT.exec(rest);
    if (!m || m[0].length === 0) {
      throw new ApiError(
        400,
        "bad_precondition",
        `${header}: ${quoted(value)} is not * or a list of quoted entity-tags such as "abc" or W/"abc"`,
      );
    }
    if (m[2] !== undefined) tags.push({ weak: m[1] !== undefined, opaque: m[2] });
    rest = rest.slice(m[0].length);
  }
  if (tags.length === 0)
    throw new ApiError(400, "bad_precondition", `${header}: give * or at least one quoted entity-tag`);
  return tags;
}

/** RFC 9110 8.8.3.2: strong comparison needs both tags strong; weak compares the opaque part only. */
function matches(list: TagList, current: EntityTag, strong: boolean): boolean {
  if (list === "*") return true;
  return list.some((tag) => tag.opaque === current.opaque && (!strong || (!tag.weak && !current.weak)));
}

const entityTag = (etag: string): EntityTag =>
  etag.startsWith("W/") ? { weak: true, opaque: etag.slice(2) } : { weak: false, opaque: etag };

/**
 * Whether If-None-Match names `etag` (weak comparison, or `*`), for routes that answer a malformed
 * header with the whole body rather than a 400: the device routes, where an old client must never
 * be refused.
 */
export function noneMatch(value: string | undefined, etag: string): boolean {
  if (value === undefined) return false;
  let list: TagList;
  try {
    list = parseTagList("If-None-Match", value);
  } catch {
    return false;
  }
  return matches(list, entityTag(etag), false);
}

/** An HTTP-date in whole seconds, or undefined where it is not one (then the header is ignored). */
function httpDate(value: string | null): number | undefined {
  if (value === null || !/^[A-Za-z]{3,9},? /.test(value.trim())) return undefined;
  const ms = Date.parse(value);
  return Number.isFinite(ms) ? Math.floor(ms / 1000) : undefined;
}

/** A request's preconditions, parsed before anything is read so a malformed one costs no R2 call. */
export interface Preconditions {
  readonly ifMatch: TagList | null;
  readonly ifNoneMatch: TagList | null;
  /** Whole seconds; undefined where absent or not an HTTP-date. */
  readonly ifUnmodifiedSince?: number;
  readonly ifModifiedSince?: number;
}

export function parsePreconditions(headers: Headers): Preconditions {
  const ifMatch = headers.get("if-match");
  const ifNoneMatch = headers.get("if-none-match");
  return {
    ifMatch: ifMatch === null ? null : parseTagList("If-Match", ifMatch),
    ifNoneMatch: ifNoneMatch === null ? null : parseTagList("If-None-Match", ifNoneMatch),
    ifUnmodifiedSince: httpDate(headers.get("if-unmodified-since")),
    ifModifiedSince: httpDate(headers.get("if-modified-since")),
  };
}

export interface Stored {
  /** The quoted ETag the object is served with (R2's `httpEtag`). */
  readonly httpEtag: string;
  readonly uploaded: Date;
}

/**
 * "412" or "304" where a precondition says so, else "proceed", in RFC 9110 13.2.2's order. Called
 * only for an object that exists: a request that would be a 404 without its preconditions is a
 * 404 with them (13.2.1).
 */
export function evaluatePreconditions(p: Preconditions, object: Stored): "proceed" | "304" | "412" {
  const current = entityTag(object.httpEtag);
  const uploaded = Math.floor(object.uploaded.getTime() / 1000);
  // If-Unmodified-Since and If-Modified-Since count only without If-Match and If-None-Match.
  if (
    p.ifMatch !== null
      ? !matches(p.ifMatch, current, true)
      : p.ifUnmodifiedSince !== undefined && uploaded > p.ifUnmodifiedSince
  )
    return "412";
  if (
    p.ifNoneMatch !== null
      ? matches(p.ifNoneMatch, current, false)
      : p.ifModifiedSince !== undefined && uploaded <= p.ifModifiedSince
  )
    return "304";
  return "proceed";
}
