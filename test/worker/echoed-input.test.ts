/**
 * Errors do not echo a hostile value whole (issue 20): a message quotes at most a few dozen
 * characters of what it refuses (`quoted`), and no message passes MAX_MESSAGE characters
 * whatever a route interpolates. Nothing stored changes on a refused request.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { Hono } from "hono";
import { ApiError, MAX_MESSAGE, renderError } from "../../src/api/errors";
import { quoted } from "../../src/errors";
import { call } from "./api";

type ErrorBody = { error: { code: string; message: string } };
const HUGE = "a".repeat(200 << 10);

async function snapshot() {
  const r2 = (await env.BUCKET.list({ limit: 1000 })).objects.map((o) => `${o.key} ${o.etag}`).sort();
  const kv = (await env.DELIVERY.list()).keys.map((k) => k.name).sort();
  return { r2, kv };
}

/** A device's request: no token. */
const device = (path: string, headers: Record<string, string>) => call(path, { headers });

describe("echoed input in error messages", () => {
  it("quotes short values as JSON and cuts long ones, saying how long they were", () => {
    expect(quoted("de")).toBe('"de"');
    expect(quoted(HUGE)).toBe(`"${"a".repeat(64)}…" (${200 << 10} characters)`);
    expect(quoted({ r: HUGE }, 10)).toBe(`{"r":"aaaa… (${(200 << 10) + 8} characters of JSON)`);
    expect(quoted(undefined)).toBe("undefined");
    // A cut never splits a surrogate pair.
    expect(quoted(`${"a".repeat(63)}😀${"b".repeat(10)}`)).toBe(`"${"a".repeat(63)}…" (75 characters)`);
  });

  it(
    "GET /v1/manifest with a 200 KB X-Device-Locales: 400 bad_need under 1 KB naming locales, nothing " +
      "stored changes",
    async () => {
      const before = await snapshot();
      const response = await device("/v1/manifest?profile=x", { "x-device-locales": HUGE });
      expect(response.status).toBe(400);
      const text = await response.text();
      expect(new TextEncoder().encode(text).byteLength).toBeLessThan(1024);
      const { error } = JSON.parse(text) as ErrorBody;
      expect(error.code).toBe("bad_need");
      expect(error.message).toMatch(/^locales: "a{64}…" \(204800 characters\) is not a language or app name/);
      expect(await snapshot()).toEqual(before);
    },
  );

  it("GET /v1/manifest with a 200 KB X-Device-Task-Set: 400 bad_need under 1 KB naming taskSet", async () => {
    const before = await snapshot();
    const response = await device("/v1/manifest?profile=x", { "x-device-task-set": HUGE });
    expect(response.status).toBe(400);
    const text = await response.text();
    expect(text.length).toBeLessThan(1024);
    expect((JSON.parse(text) as ErrorBody).error).toMatchObject({
      code: "bad_need",
      message: expect.stringMatching(/^taskSet: "a{64}…"/),
    });
    expect(await snapshot()).toEqual(before);
  });

  it("a device trait (ramMb) is quoted, not echoed whole", async () => {
    const before = await snapshot();
    const response = await device("/v1/manifest", { "x-device-ram-mb": `x${HUGE}` });
    expect(response.status).toBe(400);
    const { error } = (await response.json()) as ErrorBody;
    expect(error).toMatchObject({
      code: "bad_trait",
      message: expect.stringMatching(/^ramMb must be a whole number of MB, got "xa{63}…" \(204801 characters\)$/),
    });
    expect(await snapshot()).toEqual(before);
  });

  it("cuts any message at MAX_MESSAGE characters, whatever a route interpolates", async () => {
    const app = new Hono().get("/", () => {
      throw new ApiError(400, "invalid_request", `x${HUGE}`);
    });
    app.onError(renderError);
    const { error } = (await (await app.request("/")).json()) as ErrorBody;
    expect(error.message).toMatch(/… \(message cut, 204801 characters\)$/);
    expect(error.message.length).toBeLessThan(MAX_MESSAGE + 50);
  });
});
