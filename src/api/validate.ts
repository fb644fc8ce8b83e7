import type { z } from "zod";
import { quoted } from "../errors";
import { boundedBody } from "./body";
import { ApiError } from "./errors";

/** Every JSON request body is at most this: a run over 1,000 task ids is about 70 KB. */
export const JSON_LIMIT = 256 << 10;

/** The JSON body (at most `limit` bytes) parsed by `schema`; a failure names the field and what was expected. */
export async function jsonBody<T extends z.ZodType>(
  request: Request,
  schema: T,
  limit = JSON_LIMIT,
): Promise<z.infer<T>> {
  const bytes = await boundedBody(request, limit, "the JSON body");
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    throw new ApiError(400, "bad_json", "the request body is not valid JSON");
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) throw new ApiError(400, "invalid_request", issueMessage(parsed.error.issues[0]));
  return parsed.data;
}

const FIELD = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/;

/**
 * A schema failure as `<path>: <what>`. An unknown key is named by its own path (`merge.evil`),
 * itself capped: it is the one part of zod's messages that repeats the request back.
 */
export function issueMessage(issue: z.core.$ZodIssue, what = "the body"): string {
  const path = issue.path.map(String);
  if (issue.code === "unrecognized_keys") {
    const [first, ...more] = issue.keys;
    const key = FIELD.test(first) ? first : quoted(first);
    const others = more.length ? ` (and ${more.length} more unknown)` : "";
    return `${[...path, key].join(".")}: not a field of ${path.length ? path.join(".") : what}${others}`;
  }
  return `${path.join(".") || "body"}: ${issue.message}`;
}

/** Model, task and profile ids become R2 key and object-name segments: lowercase, digits, `.`, `_`, `-`, at most 64. */
const ID = /^[a-z0-9][a-z0-9._-]{0,63}$/;

export function checkedId(kind: "model" | "task" | "profile", id: string): string {
  if (!ID.test(id)) throw new ApiError(400, "bad_id", `${kind} id must match ${ID}`);
  return id;
}
