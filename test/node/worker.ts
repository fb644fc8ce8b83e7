/**
 * A real local Worker for Node-side tests (browser, CLI): wrangler's unstable_startWorker on the
 * repo's wrangler.toml, state in a fresh temporary directory (the catalogue starts empty), a free
 * port, and secrets made for this run only (no key, test or real, lives in the repo).
 */
import { generateKeyPairSync } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { unstable_startWorker } from "wrangler";

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

/**
 * `vars`: extra plain-text bindings over wrangler.toml's (e.g. EVALUATOR_URL), `secrets`: extra secrets,
 * `entrypoint`: a module in place of wrangler.toml's `main` (a bench's variant of the Worker), from the repo root.
 */
export async function startWorker(
  options: { vars?: Record<string, string>; secrets?: Record<string, string>; entrypoint?: string } = {},
): Promise<LocalWorker> {
  process.env.WRANGLER_LOG ??= "error"; // no per-batch QUEUE lines in the test output
  const state = await mkdtemp(join(tmpdir(), "d2c-edge-state-"));
  const signingKey = JSON.stringify(generateKeyPairSync("ed25519").privateKey.export({ format: "jwk" }));
  const worker = await unstable_startWorker({
    config: CONFIG,
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
