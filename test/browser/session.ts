/**
 * What each browser test file opens: a real local Worker seeded with the fixtures, Debian's
 * Chromium (playwright-core) and one page on the console, with the page's errors and the
 * Content-Security-Policy violations it reports collected. Screenshots go to test-artifacts/.
 */
import { existsSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import { chromium, type Browser, type Page } from "playwright-core";
import { seed } from "../../scripts/seed.ts";
import { startWorker, type LocalWorker } from "../node/worker.ts";

export const ARTIFACTS = new URL("../../test-artifacts/", import.meta.url).pathname;
const CHROMIUM = "/usr/bin/chromium";
// A machine without Debian's Chromium skips these, loudly; .ci/run installs it, so CI never does.
export const hasChromium = existsSync(CHROMIUM);
if (!hasChromium)
  console.warn(`${CHROMIUM} is missing: the console's browser tests are skipped (apt-get install chromium)`);
const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

/**
 * Playwright's 30 s default is shorter than the Worker's answer while a run's units share its one
 * isolate and the 2 cores with the other vitest worker; the waits that are the point name their own.
 */
export const PAGE_TIMEOUT = 120_000;

export interface ConsoleSession {
  readonly worker: LocalWorker;
  readonly browser: Browser;
  readonly page: Page;
  /** Uncaught errors of the page. */
  readonly errors: string[];
  /** What Chromium refused under the console's Content-Security-Policy (console/_headers). */
  readonly cspViolations: string[];
  /** A full-page screenshot, test-artifacts/console-<name>.png. */
  shot(name: string): Promise<unknown>;
  close(): Promise<void>;
}

export async function openConsole(): Promise<ConsoleSession> {
  await mkdir(ARTIFACTS, { recursive: true });
  // Tests read the manifest right after changing it: no per-isolate memo of the read model.
  const worker = await startWorker({ vars: { READ_MODEL_ISOLATE_MS: "0" } });
  await seed(worker.url, worker.token, "r2-fixtures");
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  page.setDefaultTimeout(PAGE_TIMEOUT);
  const errors: string[] = [];
  const cspViolations: string[] = [];
  page.on("pageerror", (e) => errors.push(e.message));
  page.on("console", (m) => {
    if (m.text().includes("Content Security Policy")) cspViolations.push(m.text());
  });
  return {
    worker,
    browser,
    page,
    errors,
    cspViolations,
    shot: (name) => page.screenshot({ path: `${ARTIFACTS}console-${name}.png`, fullPage: true }),
    async close() {
      await browser.close();
      await worker.dispose();
    },
  };
}
