/**
 * Every route stops reading its body at its limit, chunked uploads included: a body streamed
 * without Content-Length is counted as it arrives and cancelled past the limit. Each case
 * checks the 413, how much of the body was actually pulled, and that nothing stored changed.
 */
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { ADMIN, call, registerModel, uploadAdapter, uploadExamples } from "./api";

const CHUNK = 64 << 10;

/** A body of `bytes` spaces produced on demand, and how many bytes the server pulled from it. */
function streamedBody(bytes: number, prefix: Uint8Array = new Uint8Array(0)) {
  let pulled = 0;
  const stream = new ReadableStream<Uint8Array>(
    {
      pull(controller) {
        if (pulled >= bytes) return controller.close();
        const chunk =
          pulled === 0 && prefix.byteLength ? prefix : new Uint8Array(Math.min(CHUNK, bytes - pulled)).fill(0x20);
        pulled += chunk.byteLength;
        controller.enqueue(chunk);
      },
    },
    { highWaterMark: 0 },
  );
  return { stream, pulled: () => pulled };
}

async function snapshot() {
  const listed = await env.BUCKET.list({ limit: 1000 });
  const json = async (path: string) => (await call(path)).json();
  return {
    r2: listed.objects.map((o) => `${o.key} ${o.etag}`).sort(),
    tasks: await json("/v1/tasks"),
    profiles: await json("/v1/profiles"),
    runs: await json("/v1/runs"),
  };
}

async function refused(
  path: string,
  method: string,
  body: ReturnType<typeof streamedBody>,
  headers: Record<string, string> = {},
) {
  const before = await snapshot();
  const response = await call(path, {
    method,
    headers: { ...ADMIN, ...headers },
    body: body.stream,
    duplex: "half",
  } as RequestInit);
  expect(response.status).toBe(413);
  expect(((await response.json()) as { error: { code: string; message: string } }).error.message).toContain("limit");
  expect(await snapshot()).toEqual(before);
  return body.pulled();
}

beforeAll(async () => {
  expect((await registerModel()).status).toBe(201);
  expect((await uploadAdapter("qa-en")).status).toBe(201);
  expect((await uploadExamples("qa-en", "fewshot")).status).toBe(201);
});

describe("body limits", () => {
  it("a chunked 70 MB adapter upload is cut off at the multipart limit", async () => {
    const boundary = "d2cboundary";
    const head = new TextEncoder().encode(
      `--${boundary}\r\nContent-Disposition: form-data; name="adapter_model.safetensors"; filename="a"\r\n\r\n`,
    );
    const pulled = await refused("/v1/tasks/big/adapter", "PUT", streamedBody(70 << 20, head), {
      "content-type": `multipart/form-data; boundary=${boundary}`,
    });
    // The limit is 64 MiB + 64 KiB + 64 KiB; the upload stops within a few chunks of it.
    expect(pulled).toBeLessThan((64 << 20) + 16 * CHUNK);
  });

  it("a chunked examples upload stops at 4 MiB", async () => {
    const pulled = await refused("/v1/tasks/qa-en/examples?split=test", "PUT", streamedBody(20 << 20));
    expect(pulled).toBeLessThan((4 << 20) + 4 * CHUNK);
  });

  it("a 3.5 MB profile and a 5 MB run request are refused at 256 KiB", async () => {
    const profile = streamedBody(
      3.5e6,
      new TextEncoder().encode('{"modelId":"d2c-char-lm","budget":{"maxAdapters":2},"match":{"socs":['),
    );
    expect(await refused("/v1/profiles/huge", "PUT", profile)).toBeLessThan((256 << 10) + 4 * CHUNK);
    const run = streamedBody(5e6, new TextEncoder().encode('{"k":2,"tasks":['));
    expect(await refused("/v1/runs", "POST", run)).toBeLessThan((256 << 10) + 4 * CHUNK);
  });

  it("a declared Content-Length above the limit is refused before reading", async () => {
    const before = await snapshot();
    const body = streamedBody(5e6);
    const response = await call("/v1/runs", {
      method: "POST",
      headers: { ...ADMIN, "content-length": String(5e6) },
      body: body.stream,
      duplex: "half",
    } as RequestInit);
    expect(response.status).toBe(413);
    expect(((await response.json()) as { error: { message: string } }).error.message).toContain(
      "5000000 bytes, the limit is 262144",
    );
    expect(body.pulled()).toBeLessThanOrEqual(CHUNK);
    expect(await snapshot()).toEqual(before);
  });
});
