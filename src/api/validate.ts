import type { z } from "zod";
import { boundedBody } from "./body";
import { ApiError } from "./errors";

/** Every JSON request body is at most this: a run over 1,000 task ids is about 70 KB. */
export const JSON_LIMIT = 256 << 10;

/** The JSON body (at most `limit` bytes) parsed by `schema`; a failure names the field and what was expected. */
export async function jsonBody<T extends z.ZodType>(request: Request, schema: T, limit = JSON_LIMIT): Promise<z.infer<T>> {
  const bytes = await boundedBody(request, limit, "the JSON body");
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    throw new ApiError(400, "bad_json", "the request body is not valid JSON");
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new ApiError(400, "invalid_request", `${issue.path.join(".") || "body"}: ${issue.message}`);
  }
  return parsed.data;
}

/** Model, task and profile ids become R2 key and object-name segments: lowercase, digits, `.`, `_`, `-`, at most 64. */
const ID = /^[a-z0-9][a-z0-9._-]{0,63}$/;

export function checkedId(kind: "model" | "task" | "profile", id: string): string {
  if (!ID.test(id)) throw new ApiError(400, "bad_id", `${kind} id must match ${ID}`);
  return id;
}
