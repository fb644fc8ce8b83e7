import { generateKeyPairSync } from "node:crypto";
import { readFile } from "node:fs/promises";
import { cloudflareTest } from "@cloudflare/vitest-plugin";
import { BaseSequencer, type TestSpecification } from "vitest/node";
import { defineConfig } from "vitest/config";
import { serveOrtWasm, ortWasmFromBinding, testQueueConsumers } from "./test/node/workerdTests.ts";

const fixtures = new URL("./r2-fixtures/", import.meta.url);
const WRANGLER_CONFIG = "./wrangler.toml";
// A signing key made for this test run only: no key, test or real, lives in the repo.
const signingKey = JSON.stringify(generateKeyPairSync("ed25519").privateKey.export({ format: "jwk" }));
// The key a rotation test switches to (test/worker/key-rotation.test.ts), as an operator's `wrangler secret put
// MANIFEST_SIGNING_KEY_NEXT`.
const nextSigningKey = JSON.stringify(generateKeyPairSync("ed25519").privateKey.export({ format: "jwk" }));

/**
 * A fresh clone has no duration cache, so vitest would order files by project name, then size. The
 * projects whose files each boot a real Worker and take minutes go first, so the run does not end
 * on one of them while the other worker idles (docs/ci-time.md); within a project, vitest's order.
 */
const PROJECT_ORDER = ["evaluator", "browser", "cli", "worker", "units", "fixtures"];
class SlowProjectsFirst extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const rank = (file: TestSpecification) => PROJECT_ORDER.indexOf(file.project.name);
    return (await super.sort(files)).sort((a, b) => rank(a) - rank(b));
  }
}

/**
 * The Worker's bindings in workerd (local R2, Durable Objects, Queues) for a project of tests, with
 * onnxruntime's wasm from a binding and a 50 ms queue batch timeout: CI's time (test/node/workerdTests.ts).
 */
function workerdPlugins() {
  return [
    ortWasmFromBinding(),
    cloudflareTest({
      wrangler: { configPath: WRANGLER_CONFIG },
      miniflare: {
        // READ_MODEL_ISOLATE_MS 0: tests read the device path right after changing it (the memo has its own
        // test).
        bindings: {
          ADMIN_TOKEN: "test-admin-token",
          MANIFEST_SIGNING_KEY: signingKey,
          MANIFEST_SIGNING_KEY_NEXT: nextSigningKey,
          READ_MODEL_ISOLATE_MS: "0",
          UNIT_IDLE_MS: "0",
          SUBSET_REPORT_MS: "0",
        },
        queueConsumers: testQueueConsumers(WRANGLER_CONFIG),
        serviceBindings: {
          ORT_WASM: serveOrtWasm,
          // Test-only: GET /<key> reads r2-fixtures/<key> from disk, for seeding local R2.
          FIXTURES: async (request: Request) => {
            const key = decodeURIComponent(new URL(request.url).pathname.slice(1));
            if (key.includes("..")) return new Response("bad key", { status: 400 });
            try {
              return new Response(await readFile(new URL(key, fixtures)));
            } catch {
              return new Response("missing", { status: 404 });
            }
          },
        },
      },
    }),
  ];
}

export default defineConfig({
  test: {
    // vitest's default on 2 cores is 1 (cores - 1): every file in turn, though most of a file's time
    // is spent waiting on a Queue, a child process or a browser. Two overlap that (docs/ci-time.md).
    maxWorkers: 2,
    sequence: { sequencer: SlowProjectsFirst },
    projects: [
      {
        // Checks of the committed reference world itself, in Node (files on disk).
        test: { name: "fixtures", include: ["test/fixtures/**/*.test.ts"], testTimeout: 60_000 },
      },
      {
        // Each file its own runtime and storage (vitest's isolation): what it writes, no other file sees.
        plugins: workerdPlugins(),
        test: {
          name: "worker",
          include: ["test/worker/**/*.test.ts"],
          testTimeout: 120_000,
          hookTimeout: 120_000,
        },
      },
      {
        // Tests that write no storage and read only the fixtures share a runtime per vitest worker
        // (isolate: false), not a workerd process each. A test that writes storage belongs in test/worker.
        plugins: workerdPlugins(),
        test: { name: "units", include: ["test/units/**/*.test.ts"], isolate: false, testTimeout: 60_000 },
      },
      {
        // The CLI as a child process against the real Worker (wrangler's unstable_startWorker), in Node.
        test: { name: "cli", include: ["test/cli/**/*.test.ts"], testTimeout: 120_000, hookTimeout: 120_000 },
      },
      {
        // The evaluator service (evaluator/, onnxruntime-node) on loopback behind the real Worker, in Node.
        test: {
          name: "evaluator",
          include: ["test/evaluator/**/*.test.ts"],
          testTimeout: 360_000,
          hookTimeout: 180_000,
        },
      },
      {
        // The console in Debian's Chromium against a real `wrangler dev` (test/node/worker.ts).
        test: { name: "browser", include: ["test/browser/**/*.test.ts"], testTimeout: 240_000, hookTimeout: 180_000 },
      },
    ],
  },
});
