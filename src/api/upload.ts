import { ApiError } from "./errors";

/** The multipart fields of an upload, each checked against its byte limit. */
export async function multipartFiles(request: Request, limits: Record<string, number>): Promise<Record<string, Uint8Array>> {
  const length = Number(request.headers.get("content-length") ?? "0");
  const total = Object.values(limits).reduce((a, b) => a + b, 0) + 64 * 1024;
  if (length > total) throw new ApiError(413, "too_large", `request body is ${length} bytes, the limit is ${total}`);
  let form: FormData;
  try {
    form = await request.formData();
  } catch {
    throw new ApiError(400, "bad_multipart", `expected multipart/form-data with fields ${Object.keys(limits).join(", ")}`);
  }
  const files: Record<string, Uint8Array> = {};
  for (const [name, limit] of Object.entries(limits)) {
    const value = form.get(name);
    if (value === null) throw new ApiError(400, "missing_field", `multipart field ${name} is missing`);
    const bytes = typeof value === "string" ? new TextEncoder().encode(value) : new Uint8Array(await value.arrayBuffer());
    if (bytes.byteLength > limit) throw new ApiError(413, "too_large", `${name} is ${bytes.byteLength} bytes, the limit is ${limit}`);
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
