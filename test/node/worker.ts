/**
 * A real local Worker for Node-side tests (browser, CLI): wrangler's unstable_startWorker on the
 * repo's wrangler.toml, state in a fresh temporary directory (the catalogue starts empty), a free
 * port, and secrets made for this run only (no key, test or real, lives in the repo).
 */
import { generateKeyPairSync } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { experimental_readRawConfig, unstable_startWorker } from "wrangler";

export const FIXTURES = fileURLToPath(new URL("../../r2-fixtures", import.meta.url));
const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const CONFIG = join(ROOT, "wrangler.toml");
export const TOKEN = "node-test-admin-token";

export interface LocalWorker {
  readonly url: string;
  readonly token: string;
  /** A request to the Worker with the admin token. */
  call(path: string, init?: RequestInit): Promise<Response>;
  dispose(): Promise<void>;
}

export interface WorkerOptions {
  /** Extra plain-text bindings over wrangler.toml's (e.g. EVALUATOR_URL). */
  vars?: Record<string, string>;
  /** Extra secrets. */
  secrets?: Record<string, string>;
  /** A module in place of wrangler.toml's `main` (a bench's variant of the Worker), from the repo root. */
  entrypoint?: string;
  /**
   * Seconds a queue's partial batch waits before delivery, in place of wrangler.toml's
   * max_batch_timeout (tests: test/node/ciTime.ts). wrangler takes queue consumers from the
   * config file alone, so the Worker then runs on a copy of wrangler.toml that says so.
   */
  batchTimeoutSeconds?: number;
}

export async function startWorker(options: WorkerOptions = {}): Promise<LocalWorker> {
  process.env.WRANGLER_LOG ??= "error"; // no per-batch QUEUE lines in the test output
  const state = await mkdtemp(join(tmpdir(), "d2c-edge-state-"));
  const signingKey = JSON.stringify(generateKeyPairSync("ed25519").privateKey.export({ format: "jwk" }));
  const worker = await unstable_startWorker({
    config: options.batchTimeoutSeconds === undefined ? CONFIG : await configCopy(state, options.batchTimeoutSeconds),
    ...(options.entrypoint ? { entrypoint: join(ROOT, options.entrypoint) } : {}),
    bindings: {
      ADMIN_TOKEN: { type: "secret_text", value: TOKEN },
      MANIFEST_SIGNING_KEY: { type: "secret_text", value: signingKey },
      ...Object.fromEntries(
        Object.entries(options.vars ?? {}).map(([name, value]) => [name, { type: "plain_text", value }]),
      ),
      ...Object.fromEntries(
        Object.entries(options.secrets ?? {}).map(([name, value]) => [name, { type: "secret_text", value }]),
      ),
    },
    dev: {
      persist: state,
      server: { hostname: "127.0.0.1", port: 0 },
      inspector: false,
      watch: false,
      logLevel: "error",
    },
  } as never);
  await worker.ready;
  const url = (await worker.url).origin;
  return {
    url,
    token: TOKEN,
    call: (path, init = {}) =>
      fetch(url + path, { ...init, headers: { authorization: `Bearer ${TOKEN}`, ...init.headers } }),
    async dispose() {
      await worker.dispose();
      await rm(state, { recursive: true, force: true });
    },
  };
}

/** wrangler.toml as JSON in `dir`, its paths made absolute and every queue consumer's batch timeout `seconds`. */
async function configCopy(dir: string, seconds: number): Promise<string> {
  const { rawConfig } = experimental_readRawConfig({ config: CONFIG });
  const config = {
    ...rawConfig,
    main: join(ROOT, rawConfig.main!),
    assets: { ...rawConfig.assets, directory: join(ROOT, rawConfig.assets!.directory!) },
    queues: {
      ...rawConfig.queues,
      consumers: rawConfig.queues?.consumers?.map((c: object) => ({ ...c, max_batch_timeout: seconds })),
    },
  };
  const path = join(dir, "wrangler.json");
  await writeFile(path, JSON.stringify(config));
  return path;
}
