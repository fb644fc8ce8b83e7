/**
 * The evaluator's object route under a hostile review (issue 20): malformed preconditions and
 * over-long keys are 400s naming what is wrong, not 500s; a failed If-Match is a 412, and only a
 * matching If-None-Match a 304 (RFC 9110 section 13). Nothing stored changes on any of them.
 */
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { app } from "../../src/api/app";

const SECRET = "test-evaluator-secret";
const KEY = "models/d2c-char-lm/model.json";
type ErrorBody = { error: { code: string; message: string } };

/**
 * The Worker's own app, given EVALUATOR_SECRET: the test config leaves it out because with
 * wrangler.toml's EVALUATOR_URL it would make the remote evaluator look configured to every run.
 */
function object(key: string, headers: Record<string, string> = {}): Promise<Response> {
  const request = new Request(`http://d2c.test/v1/evaluator/objects/${key}`, {
    headers: { authorization: `Bearer ${SECRET}`, ...headers },
  });
  return Promise.resolve(app.fetch(request, { ...env, EVALUATOR_SECRET: SECRET }));
}

async function snapshot(): Promise<string[]> {
  const listed = await env.BUCKET.list({ limit: 1000, include: ["httpMetadata", "customMetadata"] });
  return listed.objects.map((o) => `${o.key} ${o.etag} ${o.uploaded.toISOString()}`).sort();
}

let etag: string;
let uploaded: Date;

beforeAll(async () => {
  const put = (await env.BUCKET.put(KEY, JSON.stringify({ modelId: "d2c-char-lm" })))!;
  etag = put.httpEtag;
  uploaded = put.uploaded;
});

interface Case {
  name: string;
  send: () => Promise<Response>;
  status: number;
  code?: string;
  mention?: string;
}

const httpDate = (d: Date) => d.toUTCString();
const cases: Case[] = [
  {
    name: "unquoted If-None-Match",
    status: 400,
    code: "bad_precondition",
    mention: "If-None-Match",
    send: () => object(KEY, { "if-none-match": "abc" }),
  },
  {
    name: "unquoted If-Match",
    status: 400,
    code: "bad_precondition",
    mention: "If-Match",
    send: () => object(KEY, { "if-match": "abc" }),
  },
  {
    name: "two tags without a comma",
    status: 400,
    code: "bad_precondition",
    mention: "If-None-Match",
    send: () => object(KEY, { "if-none-match": '"a" "b"' }),
  },
  {
    name: "a key of 1,025 bytes",
    status: 400,
    code: "bad_key",
    mention: "R2 keys are at most 1024 bytes",
    send: () => object(`models/${"a".repeat(1025 - "models/".length)}`),
  },
  {
    name: "a key of 1,025 bytes in UTF-8",
    status: 400,
    code: "bad_key",
    mention: "is 1025 bytes",
    send: () => object(`models/${encodeURIComponent("é".repeat(508))}aa`),
  },
  // 1,024 bytes is a key R2 takes: past the length check, it is simply not there.
  {
    name: "a key of 1,024 bytes",
    status: 404,
    code: "not_found",
    send: () => object(`models/${"a".repeat(1024 - "models/".length)}`),
  },
  {
    name: "a mismatched If-Match",
    status: 412,
    code: "precondition_failed",
    mention: "a precondition of the request does not hold",
    send: () => object(KEY, { "if-match": '"other"' }),
  },
  {
    name: "a weak If-Match of the current tag (strong comparison)",
    status: 412,
    code: "precondition_failed",
    send: () => object(KEY, { "if-match": `W/${etag}` }),
  },
  {
    name: "a matching If-Match with a mismatched If-None-Match",
    status: 200,
    send: () => object(KEY, { "if-match": `"x", ${etag}`, "if-none-match": '"other"' }),
  },
  { name: "If-Match *", status: 200, send: () => object(KEY, { "if-match": "*" }) },
  { name: "a mismatched If-None-Match", status: 200, send: () => object(KEY, { "if-none-match": '"other"' }) },
  { name: "a matching If-None-Match", status: 304, send: () => object(KEY, { "if-none-match": etag }) },
  {
    name: "a weak If-None-Match of the current tag (weak comparison)",
    status: 304,
    send: () => object(KEY, { "if-none-match": `"x", W/${etag}` }),
  },
  { name: "If-None-Match *", status: 304, send: () => object(KEY, { "if-none-match": "*" }) },
  {
    name: "a failed If-Match before a matching If-None-Match",
    status: 412,
    code: "precondition_failed",
    send: () => object(KEY, { "if-match": '"other"', "if-none-match": etag }),
  },
  {
    name: "If-Unmodified-Since before the upload",
    status: 412,
    code: "precondition_failed",
    send: () => object(KEY, { "if-unmodified-since": httpDate(new Date(uploaded.getTime() - 60_000)) }),
  },
  {
    name: "If-Modified-Since after the upload",
    status: 304,
    send: () => object(KEY, { "if-modified-since": httpDate(new Date(uploaded.getTime() + 60_000)) }),
  },
  // RFC 9110 13.1.3: a recipient ignores If-Modified-Since when If-None-Match is present.
  {
    name: "If-Modified-Since after the upload beside a mismatched If-None-Match",
    status: 200,
    send: () =>
      object(KEY, { "if-none-match": '"other"', "if-modified-since": httpDate(new Date(uploaded.getTime() + 60_000)) }),
  },
  {
    name: "a malformed If-Modified-Since (ignored, RFC 9110 13.1.3)",
    status: 200,
    send: () => object(KEY, { "if-modified-since": "yesterday" }),
  },
  {
    name: "preconditions on a missing object",
    status: 404,
    code: "not_found",
    send: () => object("models/d2c-char-lm/nothing.json", { "if-match": '"other"' }),
  },
];

describe("the evaluator's object route and its preconditions", () => {
  for (const c of cases) {
    it(`${c.name}: ${c.status}, nothing stored changes`, async () => {
      const before = await snapshot();
      const response = await c.send();
      expect(response.status).toBe(c.status);
      if (c.status === 200) expect(JSON.parse(await response.text())).toEqual({ modelId: "d2c-char-lm" });
      if (c.status === 304) {
        expect(response.headers.get("etag")).toBe(etag);
        expect(await response.text()).toBe("");
      }
      if (c.code) {
        const body = (await response.json()) as ErrorBody;
        expect(body.error.code).toBe(c.code);
        if (c.mention) expect(body.error.message).toContain(c.mention);
      }
      expect(await snapshot()).toEqual(before);
    });
  }

  it(
    "still answers the evaluator's own revalidation (evaluator/objects.ts: the etag it was served, as " +
      "If-None-Match)",
    async () => {
      const first = await object(KEY);
      expect(first.status).toBe(200);
      await first.arrayBuffer();
      const again = await object(KEY, { "if-none-match": first.headers.get("etag")! });
      expect(again.status).toBe(304);
    },
  );
});
