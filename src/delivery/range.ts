/**
 * One `Range: bytes=...` request against a blob of `size` bytes (RFC 9110 section 14). A header
 * we do not serve as a range (several ranges, another unit, malformed) is ignored and the whole
 * blob is sent, as the RFC allows; a well-formed range past the end is unsatisfiable (416).
 */
export type ByteRange = { readonly offset: number; readonly length: number };

export function parseRange(header: string | null, size: number): ByteRange | "unsatisfiable" | null {
  const m = header ? /^bytes=(\d*)-(\d*)$/.exec(header.trim()) : null;
  if (!m || (m[1] === "" && m[2] === "")) return null;
  if (m[1] === "") {
    const suffix = Number(m[2]);
    if (suffix === 0 || size === 0) return "unsatisfiable";
    return { offset: Math.max(0, size - suffix), length: Math.min(suffix, size) };
  }
  const first = Number(m[1]);
  if (first >= size) return "unsatisfiable";
  const last = m[2] === "" ? size - 1 : Number(m[2]);
  if (last < first) return null;
  return { offset: first, length: Math.min(last, size - 1) - first + 1 };
}
