import { boundedForm } from "./body";
import { ApiError } from "./errors";

/**
 * The multipart fields of an upload, each checked against its byte limit, the whole body against
 * their sum; every field is required unless named in `optional` (then absent from the result).
 */
export async function multipartFiles(
  request: Request,
  limits: Record<string, number>,
  optional: readonly string[] = [],
): Promise<Record<string, Uint8Array>> {
  // 64 KB over the fields' sum for the multipart boundaries and part headers.
  const total = Object.values(limits).reduce((a, b) => a + b, 0) + 64 * 1024;
  const form = await boundedForm(request, total);
  if (form === "not_multipart")
    throw new ApiError(
      400,
      "bad_multipart",
      `expected multipart/form-data with fields ${Object.keys(limits).join(", ")}`,
    );
  const files: Record<string, Uint8Array> = {};
  for (const [name, limit] of Object.entries(limits)) {
    const value = form.get(name);
    if (value === null && optional.includes(name)) continue;
    if (value === null) throw new ApiError(400, "missing_field", `multipart field ${name} is missing`);
    const bytes =
      typeof value === "string" ? new TextEncoder().encode(value) : new Uint8Array(await value.arrayBuffer());
    if (bytes.byteLength > limit)
      throw new ApiError(413, "too_large", `${name} is ${bytes.byteLength} bytes, the limit is ${limit}`);
    files[name] = bytes;
  }
  return files;
}

export function parseJsonField(name: string, bytes: Uint8Array): unknown {
  try {
    return JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    throw new ApiError(400, "bad_json", `${name} is not valid JSON`);
  }
}
