/**
 * What a unit names, read through the Worker (`GET /v1/evaluator/objects/<R2 key>`, the shared
 * secret) and cached: model files on disk by their sha256 (a 4 GB ONNX is downloaded once, and
 * onnxruntime-node opens it and its external data from there), small JSON by ETag (revalidated
 * with If-None-Match, so a re-registered model is seen), and bytes checked against the digest
 * the unit or model.json pins.
 */
import { createHash } from "node:crypto";
import { createWriteStream } from "node:fs";
import { mkdir, rename, rm, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";

/** A failure of the Worker or the network: the service answers 502, the queue retries. */
export class UpstreamError extends Error {}

/** Bytes that do not match the digest a unit pinned (an object replaced since the run started): 409. */
export class ChangedError extends Error {}

const sha256 = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest("hex");

export class WorkerObjects {
  private readonly revalidated = new Map<string, { etag: string; text: string }>();
  private readonly downloads = new Map<string, Promise<string>>();

  constructor(
    private readonly workerUrl: string,
    private readonly secret: string,
    private readonly cacheDir: string,
  ) {}

  private async get(key: string, headers: Record<string, string> = {}): Promise<Response> {
    const url = `${this.workerUrl}/v1/evaluator/objects/${key.split("/").map(encodeURIComponent).join("/")}`;
    let response: Response;
    try {
      response = await fetch(url, { headers: { authorization: `Bearer ${this.secret}`, ...headers } });
    } catch (e) {
      throw new UpstreamError(
        `the Worker at ${this.workerUrl} is unreachable: ${e instanceof Error ? e.message : String(e)}`,
      );
    }
    if (response.status === 404) throw new UpstreamError(`${key} is not in R2`);
    if (!response.ok && response.status !== 304) {
      throw new UpstreamError(
        `reading ${key} through the Worker: ${response.status} ${(await response.text()).slice(0, 200)}`,
      );
    }
    return response;
  }

  /** A small text object, revalidated by ETag on every call (a 304 is a few hundred bytes). */
  async text(key: string): Promise<{ text: string; etag: string }> {
    const known = this.revalidated.get(key);
    const response = await this.get(key, known ? { "if-none-match": known.etag } : {});
    if (response.status === 304 && known) return known;
    const fresh = { text: await response.text(), etag: response.headers.get("etag") ?? "" };
    this.revalidated.set(key, fresh);
    return fresh;
  }

  /** An object's bytes, checked against `expectedSha256` when given. */
  async bytes(key: string, expectedSha256?: string): Promise<Uint8Array> {
    const bytes = new Uint8Array(await (await this.get(key)).arrayBuffer());
    if (expectedSha256 !== undefined && sha256(bytes) !== expectedSha256) {
      throw new ChangedError(`${key} changed: its sha256 is no longer ${expectedSha256}`);
    }
    return bytes;
  }

  /**
   * A model file on disk under `<cacheDir>/models/<dir>/<name>`, streamed from the Worker while
   * hashed and kept only if its sha256 is the expected one. Concurrent units share one download.
   */
  file(key: string, dir: string, name: string, expectedSha256: string): Promise<string> {
    const path = join(this.cacheDir, "models", dir, name);
    let download = this.downloads.get(path);
    if (!download) {
      download = this.download(key, path, expectedSha256);
      this.downloads.set(path, download);
      download.catch(() => this.downloads.delete(path));
    }
    return download;
  }

  private async download(key: string, path: string, expectedSha256: string): Promise<string> {
    const done = `${path}.sha256-${expectedSha256}`;
    if (
      await stat(done).then(
        () => true,
        () => false,
      )
    )
      return path;
    await mkdir(join(path, ".."), { recursive: true });
    const response = await this.get(key);
    if (!response.body) throw new UpstreamError(`${key}: empty response`);
    const partial = `${path}.partial-${process.pid}`;
    const hash = createHash("sha256");
    const source = Readable.fromWeb(response.body as import("node:stream/web").ReadableStream<Uint8Array>);
    source.on("data", (chunk: Buffer) => hash.update(chunk));
    try {
      await pipeline(source, createWriteStream(partial));
    } catch (e) {
      await rm(partial, { force: true });
      throw new UpstreamError(`${key}: download failed: ${e instanceof Error ? e.message : String(e)}`);
    }
    const got = hash.digest("hex");
    if (got !== expectedSha256) {
      await rm(partial, { force: true });
      throw new ChangedError(`${key}: sha256 ${got}, model.json says ${expectedSha256}`);
    }
    await rename(partial, path);
    // The marker is written last: a file without it is a download that did not finish.
    await writeFile(done, "");
    return path;
  }
}
