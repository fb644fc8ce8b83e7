/**
 * The operator console in Debian's Chromium (playwright-core) against a real local Worker
 * seeded with the fixtures: start a run, watch it finish, read the heatmap, publish, roll back.
 * Screenshots of each page go to test-artifacts/ (not committed).
 */
import { existsSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import { chromium, type Browser, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { seed } from "../../scripts/seed.ts";
import { startWorker, type LocalWorker } from "../node/worker.ts";

const ARTIFACTS = new URL("../../test-artifacts/", import.meta.url).pathname;
const CHROMIUM = "/usr/bin/chromium";
// A machine without Debian's Chromium skips these, loudly; .ci/run installs it, so CI never does.
const hasChromium = existsSync(CHROMIUM);
if (!hasChromium) console.warn(`${CHROMIUM} is missing: the console's browser tests are skipped (apt-get install chromium)`);
const CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"];

let worker: LocalWorker;
let browser: Browser;
let page: Page;
const errors: string[] = [];
/** What Chromium refused under the console's Content-Security-Policy (console/_headers). */
const cspViolations: string[] = [];

beforeAll(async () => {
  if (!hasChromium) return;
  await mkdir(ARTIFACTS, { recursive: true });
  worker = await startWorker();
  await seed(worker.url, worker.token, "r2-fixtures");
  browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  page.on("pageerror", (e) => errors.push(e.message));
  page.on("console", (m) => {
    if (m.text().includes("Content Security Policy")) cspViolations.push(m.text());
  });
});

afterAll(async () => {
  await browser?.close();
  await worker?.dispose();
});

const shot = (name: string) => page.screenshot({ path: `${ARTIFACTS}console-${name}.png`, fullPage: true });

describe.skipIf(!hasChromium)("the console", () => {
  it("asks for the token, then lists the 40 tasks of the catalogue", async () => {
    await page.goto(`${worker.url}/`);
    await expect.poll(() => page.textContent("#view")).toContain("Admin token");
    await page.fill("#token", worker.token);
    await page.click("#token-form button");
    await page.waitForSelector("#tasks tbody tr");
    expect(await page.locator("#tasks tbody tr").count()).toBe(40);
    await shot("catalogue");
  });

  it("serves the console with a Content-Security-Policy: same-origin scripts, styles and fetches only", async () => {
    for (const path of ["/", "/app.js", "/api.html"]) {
      const csp = (await fetch(`${worker.url}${path}`)).headers.get("content-security-policy");
      expect(csp, path).toContain("default-src 'none'");
      expect(csp, path).toContain("script-src 'self';");
      expect(csp, path).toContain("style-src 'self';");
      expect(csp, path).toContain("connect-src 'self';");
    }
  });

  it("shows a refused request's message as text, markup and all", async () => {
    const id = `<img src=x onerror="document.title='injected'">`;
    // POST /v1/runs echoes an unknown profile id in its 404 (ids are [a-z0-9._-], so none exists).
    const refused = await worker.call("/v1/runs", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ method: "d2c", merge: { method: "svd" }, profile: id }) });
    expect(refused.status).toBe(404);
    expect(((await refused.json()) as { error: { message: string } }).error.message).toBe(`profile: no profile ${id}`);
    // The same request from the console: a budget option naming that profile, as a stale page would.
    await page.goto(`${worker.url}/#runs`);
    await page.waitForSelector("#start-run");
    // (A script string: the Node tests' types have no DOM.)
    await page.evaluate(`{
      const budget = document.querySelector("#start-run select[name=budget]");
      budget.append(Object.assign(document.createElement("option"), { value: ${JSON.stringify(`profile:${id}`)}, textContent: "stale" }));
      budget.value = ${JSON.stringify(`profile:${id}`)};
    }`);
    await page.click("#start-run button");
    await expect.poll(() => page.textContent("#error")).toBe(`/v1/runs: profile: no profile ${id}`);
    expect(await page.locator("img").count()).toBe(0);
    // A view whose load fails shows the server's message in place of the view, as text too.
    await page.goto(`${worker.url}/#run/${encodeURIComponent(id)}`);
    await expect.poll(() => page.textContent("#view")).toContain("run id must match");
    expect(await page.locator("img").count()).toBe(0);
    expect(await page.title()).toBe("d2c-edge console");
  });

  it("creates a device profile", async () => {
    await page.goto(`${worker.url}/#profiles`);
    await page.fill("#new-profile input[name=id]", "phones");
    await page.fill("#new-profile input[name=maxAdapters]", "5");
    await page.click("#new-profile button");
    await page.waitForSelector("section.profile[data-profile=phones]");
    await shot("profiles-new");
  });

  it("starts a D2C run, follows it to done, and shows the loss heatmap", async () => {
    await page.goto(`${worker.url}/#runs`);
    await page.fill("#start-run input[name=k]", "5");
    await shot("runs");
    await page.click("#start-run button");
    await page.waitForSelector("#run-state");
    await page.waitForSelector("#run-state.done", { timeout: 180_000 });
    await page.waitForSelector(".heatmap rect.cell");
    expect(await page.locator(".heatmap rect.cell").count()).toBe(40 * 5);
    expect(await page.textContent("#summary")).toContain("K=5");
    await shot("run");
  });

  it("evaluates the held-out report over the queue and shows it when every task reported", async () => {
    await page.click("#held-out");
    await expect.poll(() => page.textContent("#report"), { timeout: 120_000 }).toMatch(/Held-out exact match: \d+\.\d%/);
    expect(await page.locator("#report tr").count()).toBe(40 + 1);
  });

  it("publishes the run twice and rolls back to the first release", async () => {
    for (const version of [1, 2]) {
      await page.selectOption("#profile", "phones");
      await page.click("#publish");
      await expect.poll(() => page.textContent("#report")).toContain(`Published release ${version}`);
    }
    await page.goto(`${worker.url}/#profiles`);
    await page.waitForSelector("button.rollback[data-version='1']");
    await page.click("button.rollback[data-version='1']");
    await page.waitForSelector("tr[data-version='3']");
    expect(await page.textContent("tr[data-version='3']")).toContain("rollback of 1");
    await shot("profiles");
  });

  it("plots score against storage and renders the API reference", async () => {
    await page.goto(`${worker.url}/#results`);
    await page.waitForSelector("svg polyline");
    await shot("results");
    await page.goto(`${worker.url}/api.html`);
    await page.waitForSelector("section h3");
    expect(await page.textContent("#reference")).toContain("POST /v1/runs");
    await shot("api");
    expect(errors).toEqual([]);
    expect(cspViolations).toEqual([]);
  });
});
