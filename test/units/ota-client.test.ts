/**
 * The reference OTA client (clients/ts) against an in-test double of the Worker's device API:
 * `GET /v1/manifest` (signed, ETag, 304) and `GET /v1/adapters/:sha256` (Range, If-Range, 206, 416).
 * Manifests are signed by the Worker's own signer (src/delivery/signing.ts) with an Ed25519 key
 * generated here. The double stands in for the HTTP contract only, not for R2 or DOs.
 */
import { describe, expect, it } from "vitest";
import {
  MemoryStore,
  OtaClient,
  type FetchLike,
  type Manifest,
  type OtaClientOptions,
  type SignedManifest,
} from "../../clients/ts";
import { manifestSigner, type ManifestSigner } from "../../src/delivery/signing";
import { sha256Hex } from "../../src/storage/sha256";

const BASE = "https://d2c.test";
const NOW = new Date("2026-11-20T12:00:00Z");

/** A signer as the Worker builds it from its MANIFEST_SIGNING_KEY secret (a private JWK). */
async function newSigner(): Promise<ManifestSigner> {
  const pair = (await crypto.subtle.generateKey({ name: "Ed25519" }, true, ["sign", "verify"])) as CryptoKeyPair;
  return manifestSigner(JSON.stringify(await crypto.subtle.exportKey("jwk", pair.privateKey)));
}

/** Distinct, recognisable adapter bytes. */
function adapterBytes(seed: number, length = 3000): Uint8Array {
  return Uint8Array.from({ length }, (_, i) => (i * 31 + seed * 97) % 251);
}

/** One merged adapter of a release: the tasks it serves and its blob per format. */
interface MergedAdapter {
  readonly tasks: readonly string[];
  readonly peft: Uint8Array;
  readonly onnx_adapter?: Uint8Array;
}

interface RequestRecord {
  readonly path: string;
  readonly range: string | null;
  readonly ifRange: string | null;
  readonly ifNoneMatch: string | null;
  status?: number;
}

/** The Worker's device routes, as the README's "API" section lists them. */
class FakeWorker {
  signed: SignedManifest | null = null;
  /** sha256 -> the bytes served under it (a test may serve wrong ones). */
  readonly blobs = new Map<string, Uint8Array>();
  /** sha256 -> bytes after which the next body of that blob breaks off (once). */
  readonly cuts = new Map<string, number>();
  /** How the next resumed request is answered: honoured, a full 200, or 416 (once, then honoured). */
  resume: "206" | "200" | "416" = "206";
  readonly requests: RequestRecord[] = [];

  readonly fetch: FetchLike = async (request) => {
    const url = new URL(request.url);
    const record: RequestRecord = {
      path: url.pathname + url.search,
      range: request.headers.get("Range"),
      ifRange: request.headers.get("If-Range"),
      ifNoneMatch: request.headers.get("If-None-Match"),
    };
    this.requests.push(record);
    const response =
      url.pathname === "/v1/manifest" ? await this.#manifest(request) : this.#adapter(request, url.pathname);
    record.status = response.status;
    return response;
  };

  /** Signs and serves a release; routing points at the peft blobs, as the profile's first format. */
  async publish(
    signer: ManifestSigner,
    version: number,
    merged: readonly MergedAdapter[],
    overrides: Partial<Manifest> = {},
  ): Promise<SignedManifest> {
    const adapters = [];
    const routing: Record<string, string> = {};
    for (const adapter of merged) {
      for (const format of ["peft", "onnx_adapter"] as const) {
        const bytes = adapter[format];
        if (!bytes) continue;
        const sha256 = await sha256Hex(bytes);
        this.blobs.set(sha256, bytes);
        adapters.push({
          sha256,
          bytes: bytes.byteLength,
          format,
          url: `/v1/adapters/${sha256}`,
          tasks: [...adapter.tasks],
        });
        if (format === "peft") for (const task of adapter.tasks) routing[task] = sha256;
      }
    }
    const manifest: Manifest = {
      profile: "phone-8gb",
      model: { id: "d2c-char-lm", sha256: "0".repeat(64) },
      version,
      createdAt: "2026-11-20T00:00:00Z",
      expiresAt: "2026-12-20T00:00:00Z",
      rollout: 100,
      routing,
      adapters,
      ...overrides,
    };
    this.signed = await signer.sign(manifest);
    return this.signed;
  }

  adapterRequests(): RequestRecord[] {
    return this.requests.filter((r) => r.path.startsWith("/v1/adapters/"));
  }

  async #manifest(request: Request): Promise<Response> {
    if (!this.signed)
      return Response.json({ error: { code: "not_found", message: "no release for this device" } }, { status: 404 });
    const body = JSON.stringify(this.signed);
    const etag = `"${await sha256Hex(body)}"`;
    if (request.headers.get("If-None-Match") === etag)
      return new Response(null, { status: 304, headers: { ETag: etag } });
    return new Response(body, { headers: { "Content-Type": "application/json", ETag: etag } });
  }

  #adapter(request: Request, path: string): Response {
    const sha256 = /^\/v1\/adapters\/([0-9a-f]{64})$/.exec(path)?.[1];
    const bytes = sha256 && this.blobs.get(sha256);
    if (!sha256 || !bytes)
      return Response.json({ error: { code: "not_found", message: "no such adapter" } }, { status: 404 });
    const headers = {
      ETag: `"${sha256}"`,
      "Accept-Ranges": "bytes",
      "Cache-Control": "public, max-age=31536000, immutable",
    };
    const range = /^bytes=(\d+)-$/.exec(request.headers.get("Range") ?? "");
    const ifRange = request.headers.get("If-Range");
    if (range && (ifRange === null || ifRange === headers.ETag) && this.resume !== "200") {
      const from = Number(range[1]);
      if (from >= bytes.byteLength || this.resume === "416") {
        this.resume = "206";
        return new Response(null, {
          status: 416,
          headers: { ...headers, "Content-Range": `bytes */${bytes.byteLength}` },
        });
      }
      const contentRange = `bytes ${from}-${bytes.byteLength - 1}/${bytes.byteLength}`;
      return new Response(this.#body(sha256, bytes.subarray(from)), {
        status: 206,
        headers: { ...headers, "Content-Range": contentRange },
      });
    }
    return new Response(this.#body(sha256, bytes), { headers });
  }

  /** The bytes, or a stream that delivers the first `cut` of them and then fails like a dropped connection. */
  #body(sha256: string, bytes: Uint8Array): Uint8Array | ReadableStream<Uint8Array> {
    const cut = this.cuts.get(sha256);
    if (cut === undefined) return bytes;
    this.cuts.delete(sha256);
    let sent = false;
    return new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent) return controller.error(new Error("connection reset by peer"));
        sent = true;
        controller.enqueue(bytes.slice(0, cut));
      },
    });
  }
}

const A = adapterBytes(1);
const B = adapterBytes(2);
const C = adapterBytes(3);
const RELEASE_1: MergedAdapter[] = [
  { tasks: ["gec-de", "reply-de"], peft: A },
  { tasks: ["sum-ko"], peft: B },
];
const RELEASE_2: MergedAdapter[] = [
  { tasks: ["gec-de", "reply-de"], peft: A },
  { tasks: ["sum-ko"], peft: C },
];

async function setup(options: Partial<OtaClientOptions> = {}) {
  const signer = await newSigner();
  const worker = new FakeWorker();
  const store = new MemoryStore();
  const client = (more: Partial<OtaClientOptions> = {}) =>
    new OtaClient({
      baseUrl: BASE,
      deviceId: "device-1",
      profile: "phone-8gb",
      publicKeys: { [signer.keyId]: signer.publicKey },
      store,
      fetch: worker.fetch,
      now: () => NOW,
      ...options,
      ...more,
    });
  return { signer, worker, store, client: client(), newClient: client };
}

/** Syncs release 1 and checks it took. */
async function withRelease1(options: Partial<OtaClientOptions> = {}) {
  const world = await setup(options);
  await world.worker.publish(world.signer, 1, RELEASE_1);
  expect((await world.client.sync()).status).toBe("updated");
  return world;
}

const bytesOf = async (client: OtaClient, taskId: string) => (await client.adapterFor(taskId))?.bytes ?? null;

describe("first sync", () => {
  it("downloads every routed adapter, verifies it and serves it per task", async () => {
    const { signer, worker, client } = await setup();
    await worker.publish(signer, 1, RELEASE_1);
    const result = await client.sync();
    expect(result).toEqual({ status: "updated", version: 1, downloaded: [await sha256Hex(A), await sha256Hex(B)] });
    expect(worker.requests[0].path).toBe("/v1/manifest?device=device-1&profile=phone-8gb");
    expect(worker.requests[0].ifNoneMatch).toBeNull();
    expect(await client.adapterFor("reply-de")).toEqual({ sha256: await sha256Hex(A), format: "peft", bytes: A });
    expect(await bytesOf(client, "sum-ko")).toEqual(B);
    expect(await client.adapterFor("tone-fr")).toBeNull();
    expect((await client.current())?.version).toBe(1);
  });

  it("sends traits when no profile is pinned, and reports the API's 404 as kept-previous", async () => {
    const { worker, client } = await setup({
      profile: undefined,
      traits: { ramMb: 8192, soc: "sm8650", os: "android-15" },
    });
    const result = await client.sync();
    expect(worker.requests[0].path).toBe("/v1/manifest?device=device-1&ramMb=8192&soc=sm8650&os=android-15");
    expect(result).toEqual({
      status: "kept-previous",
      version: null,
      downloaded: [],
      error: "manifest: HTTP 404 not_found: no release for this device",
    });
    expect(await client.current()).toBeNull();
  });

  it("installs the preferred format the manifest offers for each merged adapter", async () => {
    const { signer, worker, client } = await setup({ formats: ["onnx_adapter", "peft"] });
    const onnx = adapterBytes(9);
    await worker.publish(signer, 1, [
      { tasks: ["gec-de", "reply-de"], peft: A, onnx_adapter: onnx },
      { tasks: ["sum-ko"], peft: B },
    ]);
    const result = await client.sync();
    expect(result.downloaded).toEqual([await sha256Hex(onnx), await sha256Hex(B)]);
    expect(await client.adapterFor("gec-de")).toEqual({
      sha256: await sha256Hex(onnx),
      format: "onnx_adapter",
      bytes: onnx,
    });
    expect((await client.adapterFor("sum-ko"))?.format).toBe("peft");
  });
});

describe("unchanged", () => {
  it("asks with the last good ETag and takes 304 as unchanged, downloading nothing", async () => {
    const { worker, client } = await withRelease1();
    const etag = `"${await sha256Hex(JSON.stringify(worker.signed))}"`;
    worker.requests.length = 0;
    expect(await client.sync()).toEqual({ status: "unchanged", version: 1, downloaded: [] });
    expect(worker.requests).toEqual([expect.objectContaining({ ifNoneMatch: etag, status: 304 })]);
  });
});

describe("resumable downloads", () => {
  /** Release 1 with B's first download cut after 1000 bytes; the log is cleared after that sync. */
  async function withCutDownload() {
    const world = await setup();
    await world.worker.publish(world.signer, 1, RELEASE_1);
    const shaB = await sha256Hex(B);
    world.worker.cuts.set(shaB, 1000);
    const cut = await world.client.sync();
    world.worker.requests.length = 0;
    return { ...world, shaB, cut };
  }

  it("keeps the bytes of a cut connection and resumes with Range and If-Range", async () => {
    const { worker, store, client, shaB, cut } = await withCutDownload();
    expect(cut).toMatchObject({ status: "kept-previous", version: null, downloaded: [await sha256Hex(A)] });
    expect(cut.error).toContain("stopped at 1000 of 3000 bytes");
    expect(await client.adapterFor("gec-de")).toBeNull(); // A arrived, but the set is not whole
    expect(await client.sync()).toEqual({ status: "updated", version: 1, downloaded: [shaB] });
    expect(worker.adapterRequests()).toEqual([
      { path: `/v1/adapters/${shaB}`, range: "bytes=1000-", ifRange: `"${shaB}"`, ifNoneMatch: null, status: 206 },
    ]);
    expect(await bytesOf(client, "sum-ko")).toEqual(B);
    expect(await store.list("ota/partial/")).toEqual([]);
  });

  it.each([
    ["a full 200 (If-Range did not match)", "200", [{ range: "bytes=1000-", status: 200 }]],
    [
      "416 (the partial is no good)",
      "416",
      [
        { range: "bytes=1000-", status: 416 },
        { range: null, status: 200 },
      ],
    ],
  ] as const)("restarts from the first byte on %s", async (_, resume, expected) => {
    const { worker, client, cut } = await withCutDownload();
    expect(cut.status).toBe("kept-previous");
    worker.resume = resume;
    expect((await client.sync()).status).toBe("updated");
    expect(worker.adapterRequests()).toEqual(expected.map((r) => expect.objectContaining(r)));
    expect(await bytesOf(client, "sum-ko")).toEqual(B);
  });
});

describe("refusals keep the previous set", () => {
  /** The sync fails with `reason`, and release 1 is still what the client serves. */
  async function expectKeptRelease1(client: OtaClient, reason: RegExp) {
    const result = await client.sync();
    expect(result).toMatchObject({ status: "kept-previous", version: 1 });
    expect(result.error).toMatch(reason);
    expect((await client.current())?.version).toBe(1);
    expect(await bytesOf(client, "sum-ko")).toEqual(B);
    expect(await bytesOf(client, "gec-de")).toEqual(A);
  }

  it("refuses a manifest whose routing was changed after signing", async () => {
    const { signer, worker, client } = await withRelease1();
    const signed = await worker.publish(signer, 2, RELEASE_2);
    worker.signed = {
      ...signed,
      manifest: { ...signed.manifest, routing: { ...signed.manifest.routing, "gec-de": await sha256Hex(C) } },
    };
    worker.requests.length = 0;
    await expectKeptRelease1(client, /signature does not verify/);
    expect(worker.adapterRequests()).toEqual([]);
  });

  it("refuses a blob whose bytes do not hash to its sha256, and keeps none of them", async () => {
    const { signer, worker, store, client } = await withRelease1();
    await worker.publish(signer, 2, RELEASE_2);
    const shaC = await sha256Hex(C);
    worker.blobs.set(shaC, adapterBytes(4)); // same length, other bytes
    await expectKeptRelease1(client, new RegExp(`adapter ${shaC}: downloaded bytes hash to`));
    expect(await store.list(`ota/adapters/${shaC}`)).toEqual([]);
    expect(await store.list("ota/partial/")).toEqual([]);
  });

  it("refuses an expired manifest", async () => {
    const { signer, worker, client } = await withRelease1();
    await worker.publish(signer, 2, RELEASE_2, { expiresAt: "2026-11-20T11:59:59Z" });
    await expectKeptRelease1(client, /expired at 2026-11-20T11:59:59Z/);
  });

  it("refuses a lower version than the last good one, but takes the same version with another rollout", async () => {
    const { signer, worker, client } = await withRelease1();
    await worker.publish(signer, 0, RELEASE_2);
    await expectKeptRelease1(client, /version 0 is lower than 1/);
    await worker.publish(signer, 1, RELEASE_1, { rollout: 50 });
    expect(await client.sync()).toEqual({ status: "updated", version: 1, downloaded: [] });
    expect((await client.current())?.rollout).toBe(50);
  });

  it("refuses a key id that is not pinned, and a pinned key id signed by another key", async () => {
    const { signer, worker, client } = await withRelease1();
    const rogue = await newSigner();
    const signed = await worker.publish(rogue, 2, RELEASE_2);
    await expectKeptRelease1(
      client,
      new RegExp(`key "${rogue.keyId}", which is neither pinned nor certified by a pinned key`),
    );
    worker.signed = { ...signed, keyId: signer.keyId };
    await expectKeptRelease1(client, new RegExp(`signature does not verify with key "${signer.keyId}"`));
  });

  it("refuses a manifest for another profile than the one asked for", async () => {
    const { signer, worker, client } = await withRelease1();
    await worker.publish(signer, 2, RELEASE_2, { profile: "phone-4gb" });
    await expectKeptRelease1(client, /for profile "phone-4gb", asked for "phone-8gb"/);
  });
});

describe("after an update", () => {
  it("deletes the blobs the new set no longer references", async () => {
    const { signer, worker, store, client } = await withRelease1();
    await worker.publish(signer, 2, RELEASE_2);
    const [shaA, shaC] = [await sha256Hex(A), await sha256Hex(C)];
    expect(await client.sync()).toEqual({ status: "updated", version: 2, downloaded: [shaC] });
    expect((await store.list("ota/adapters/")).sort()).toEqual([`ota/adapters/${shaA}`, `ota/adapters/${shaC}`].sort());
    expect(await bytesOf(client, "sum-ko")).toEqual(C);
  });

  it("lets a new client on the same store serve adapters without the network, then resume with its ETag", async () => {
    const { worker, newClient } = await withRelease1();
    const offline = newClient({ fetch: () => Promise.reject(new Error("offline")) });
    expect(await bytesOf(offline, "gec-de")).toEqual(A);
    expect((await offline.current())?.version).toBe(1);
    expect(await offline.sync()).toEqual({ status: "kept-previous", version: 1, downloaded: [], error: "offline" });

    worker.requests.length = 0;
    expect((await newClient().sync()).status).toBe("unchanged");
    expect(worker.requests[0].status).toBe(304);
  });

  it("does not trust a persisted manifest whose signature no longer verifies", async () => {
    const { signer, store, newClient } = await withRelease1();
    const other = await newSigner();
    expect(await newClient({ publicKeys: { [signer.keyId]: other.publicKey } }).adapterFor("gec-de")).toBeNull();
    expect(await store.list("ota/adapters/")).toHaveLength(2); // nothing deleted until a good sync
  });
});
