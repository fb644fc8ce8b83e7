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

const PAGE_TIMEOUT = 120_000;
let worker: LocalWorker;
let browser: Browser;
let page: Page;
const errors: string[] = [];
/** What Chromium refused under the console's Content-Security-Policy (console/_headers). */
const cspViolations: string[] = [];

beforeAll(async () => {
  if (!hasChromium) return;
  await mkdir(ARTIFACTS, { recursive: true });
  // Tests read the manifest right after changing it: no per-isolate memo of the read model.
  worker = await startWorker({ vars: { READ_MODEL_ISOLATE_MS: "0" } });
  await seed(worker.url, worker.token, "r2-fixtures");
  browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  // Playwright's 30 s default is shorter than the Worker's answer while a run's units share its one
  // isolate and the 2 cores with the other vitest worker; the waits that are the point name their own.
  page.setDefaultTimeout(PAGE_TIMEOUT);
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

/**
 * Puts the pointer over one cell of a heatmap (charts.js), scrolling its box and the page to it;
 * the wrapper's data attributes give the cell geometry in CSS pixels.
 */
async function hoverCell(on: Page, wrapper: string, row: number, cluster: number) {
  const point = (await on.evaluate(
    `(() => {
    const chart = document.querySelector(${JSON.stringify(wrapper)}), d = chart.dataset;
    const canvas = chart.querySelector("canvas"), scroll = chart.querySelector(".scroll");
    const x = Number(d.left) + (${cluster} + 0.5) * Number(d.cellWidth), y = Number(d.top) + (${row} + 0.5) * ` +
      `Number(d.rowHeight);
    scroll.scrollTop = Math.max(0, y - scroll.clientHeight / 2);
    const inView = canvas.getBoundingClientRect();
    window.scrollBy(0, inView.top + y - innerHeight / 2);
    const at = canvas.getBoundingClientRect();
    return { x: at.left + x, y: at.top + y };
  })()`,
  )) as { x: number; y: number };
  await on.mouse.move(point.x, point.y);
}

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
    const refused = await worker.call("/v1/runs", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ method: "d2c", merge: { method: "svd" }, profile: id }),
    });
    expect(refused.status).toBe(404);
    expect(((await refused.json()) as { error: { message: string } }).error.message).toBe(`profile: no profile ${id}`);
    // The same request from the console: a budget option naming that profile, as a stale page would.
    await page.goto(`${worker.url}/#runs`);
    await page.waitForSelector("#start-run");
    // (A script string: the Node tests' types have no DOM.)
    await page.evaluate(
      `{
      const budget = document.querySelector("#start-run select[name=budget]");
      budget.append(Object.assign(document.createElement("option"), { value: ${JSON.stringify(`profile:${id}`)}, ` +
        `textContent: "stale" }));
      budget.value = ${JSON.stringify(`profile:${id}`)};
    }`,
    );
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
    // No device has stated a need yet: a note in place of the table.
    expect(await page.textContent("section.profile[data-profile=phones] div.subsets")).toContain("no subset releases");
    await shot("profiles-new");
  });

  it("lists a profile's subset releases (per-device task sets) from GET /v1/profiles/:id", async () => {
    // The Worker's answer with two subsets added: the page's table, not the server's building of them, is under test
    // here.
    const subsets = [
      {
        key: "3f2a9c0d1e2b4a5c",
        tasks: ["gec-de", "qa-de", "sum-de"],
        locales: ["de"],
        apps: ["mail"],
        state: "published",
        runId: "run-x",
        outcome: null,
        release: {
          version: 2,
          createdAt: "2026-11-30T10:00:00.000Z",
          catalogueVersion: 1,
          adapters: 2,
          objective: 0.58,
        },
        released: true,
        demand: 9,
        requests: 12,
        firstRequestedAt: "2026-11-29T09:00:00.000Z",
        lastRequestedAt: new Date(Date.now() - 3 * 3600_000).toISOString(),
        heldOutExactMatch: 0.7125,
      },
      {
        key: "0123456789abcdef",
        tasks: ["qa-ja"],
        locales: ["ja"],
        apps: [],
        state: "failed",
        runId: null,
        outcome: "run failed",
        release: null,
        released: false,
        demand: 1,
        requests: 1,
        firstRequestedAt: "2026-11-29T09:00:00.000Z",
        lastRequestedAt: "2026-11-29T09:00:00.000Z",
        heldOutExactMatch: null,
      },
    ];
    await page.route("**/v1/profiles/phones", async (route) => {
      const response = await route.fetch();
      await route.fulfill({ response, json: { ...(await response.json()), subsets } });
    });
    try {
      await page.goto(`${worker.url}/#runs`);
      await page.goto(`${worker.url}/#profiles`);
      await page.waitForSelector("table.subsets tr[data-subset]");
      const rows = await page.$$eval("section.profile[data-profile=phones] table.subsets tr[data-subset]", (trs) =>
        trs.map((tr) => [...tr.querySelectorAll("td")].map((td) => [td.textContent, td.getAttribute("title")])),
      );
      expect(rows).toEqual([
        [
          ["de + mail", "key 3f2a9c0d1e2b4a5c"],
          ["3", "gec-de\nqa-de\nsum-de"],
          ["published", null],
          ["2", null],
          ["9", "12 reports"],
          ["3 h ago", subsets[0].lastRequestedAt],
          ["71.3%", null],
        ],
        [
          ["ja", "key 0123456789abcdef"],
          ["1", "qa-ja"],
          ["failed", null],
          ["—", null],
          ["1", "1 report"],
          [expect.stringMatching(/^\d+ d ago$/), subsets[1].lastRequestedAt],
          ["—", null],
        ],
      ]);
      await shot("profiles-subsets");
    } finally {
      await page.unroute("**/v1/profiles/phones");
    }
  });

  it("starts a D2C run, follows it to done, and shows the loss heatmap", async () => {
    await page.goto(`${worker.url}/#runs`);
    await page.fill("#start-run input[name=k]", "5");
    // One start: the default's four are the Worker tests' to check.
    await page.fill("#start-run input[name=restarts]", "1");
    await shot("runs");
    await page.click("#start-run button");
    await page.waitForSelector("#run-state");
    await page.waitForSelector("#run-state.done", { timeout: 180_000 });
    await page.waitForSelector('#heatmap .heatmap canvas[role=img][aria-label="loss heatmap"]');
    const chart = page.locator("#heatmap .heatmap");
    expect(await chart.getAttribute("data-rows")).toBe("40");
    expect(await chart.getAttribute("data-clusters")).toBe("5");
    expect(await page.textContent("#summary")).toContain("K=5");
    // The pointer over a cell the Worker has a loss for names the task, the cluster and the loss.
    const runId = decodeURIComponent(/#run\/(.+)$/.exec(page.url())?.[1] ?? "");
    const status = (await (await worker.call(`/v1/runs/${runId}`)).json()) as { tasks: string[]; restarts: number };
    expect(status.restarts).toBe(1);
    const matrix = (await (await worker.call(`/v1/runs/${runId}/losses?limit=1000`)).json()) as {
      rows: { task: string; losses: (number | null)[] }[];
    };
    const cell = matrix.rows
      .flatMap((row) => row.losses.map((v, cluster) => ({ task: row.task, cluster, v })))
      .find((c) => c.v !== null);
    if (!cell || cell.v === null) throw new Error("the finished run has no loss to hover");
    await hoverCell(page, "#heatmap .heatmap", status.tasks.indexOf(cell.task), cell.cluster);
    await expect
      .poll(() => page.textContent("#heatmap .heatmap .tooltip"))
      .toBe(`${cell.task} under cluster ${cell.cluster}: ${cell.v.toFixed(4)}`);
    expect(await page.isVisible("#heatmap .heatmap .tooltip")).toBe(true);
    await shot("run");
  });

  it(
    "draws a 1,000 x 20 loss heatmap on one canvas in well under half a second, and names the " +
      "cell under the pointer",
    async () => {
      // A fresh page at twice the pixel density: the canvas must draw in device pixels.
      const dense = await browser.newPage({ viewport: { width: 1280, height: 900 }, deviceScaleFactor: 2 });
      dense.setDefaultTimeout(PAGE_TIMEOUT);
      dense.on("pageerror", (e) => errors.push(e.message));
      try {
        await dense.goto(`${worker.url}/`);
        const [N, K] = [1000, 20];
        const tasks = Array.from({ length: N }, (_, r) => `task-${String(r).padStart(4, "0")}`);
        // Deterministic losses in [0.5, 10.1]; null (not evaluated) where (7r + c) % 13 == 0, except under the task's
        // own cluster r % K.
        const loss = (r: number, c: number) =>
          (7 * r + c) % 13 === 0 && c !== r % K ? null : 0.5 + ((31 * r + 17 * c) % 97) / 10;
        const losses = Object.fromEntries(tasks.map((t, r) => [t, Array.from({ length: K }, (_, c) => loss(r, c))]));
        const assignment = Object.fromEntries(tasks.map((t, r) => [t, r % K]));
        // Row 1: its own cluster 1, and cluster 6 not evaluated ((7 + 6) % 13 == 0).
        expect([loss(1, 1), loss(1, 6)].map((v) => v === null)).toEqual([false, true]);
        // (A script string: the Node tests' types have no DOM.)
        const drawn = (await dense.evaluate(`(async () => {
        const { heatmap } = await import("/charts.js");
        const [tasks, losses, assignment] = ${JSON.stringify([tasks, losses, assignment])};
        const started = performance.now();
        const chart = heatmap(tasks, losses, assignment);
        chart.id = "dense";
        document.body.append(chart);
        chart.getBoundingClientRect(); // layout included in the time
        const ms = performance.now() - started;
        const canvas = chart.querySelector("canvas"), scroll = chart.querySelector(".scroll"), d = chart.dataset;
        const pixel = (row, cluster) => [...canvas.getContext("2d").getImageData(
          Math.floor(devicePixelRatio * (Number(d.left) + (cluster + 0.5) * Number(d.cellWidth))),
          Math.floor(devicePixelRatio * (Number(d.top) + (row + 0.5) * Number(d.rowHeight))), 1, 1).data];
        return {
          ms, elements: 1 + chart.querySelectorAll("*").length, canvases: chart.querySelectorAll("canvas").length,
          rows: d.rows, clusters: d.clusters, dpr: devicePixelRatio,
          backing: canvas.width, css: canvas.getBoundingClientRect().width,
          boxHeight: scroll.clientHeight, contentHeight: scroll.scrollHeight,
          own: pixel(1, 1), empty: pixel(1, 6),
        };
      })()`)) as {
          ms: number;
          elements: number;
          canvases: number;
          rows: string;
          clusters: string;
          dpr: number;
          backing: number;
          css: number;
          boxHeight: number;
          contentHeight: number;
          own: number[];
          empty: number[];
        };
        console.log(
          `heatmap of ${N} x ${K}: drawn and laid out in ${drawn.ms.toFixed(1)} ms, ${drawn.elements} elements`,
        );
        expect(drawn.ms).toBeLessThan(500);
        expect(drawn.elements).toBeLessThan(50);
        expect(drawn.canvases).toBe(1);
        expect([drawn.rows, drawn.clusters]).toEqual(["1000", "20"]);
        expect(drawn.dpr).toBe(2);
        expect(drawn.backing).toBe(Math.round(drawn.css * 2));
        // 1,000 rows scroll in a box of bounded height (style.css: .heatmap.compact).
        expect(drawn.boxHeight).toBeLessThanOrEqual(480);
        expect(drawn.contentHeight).toBeGreaterThan(drawn.boxHeight);
        // A cell not evaluated is light grey (#f3f4f6), the task's own cluster shaded.
        expect(drawn.empty).toEqual([0xf3, 0xf4, 0xf6, 255]);
        expect(drawn.own).not.toEqual(drawn.empty);
        await hoverCell(dense, "#dense", 999, 19);
        await expect
          .poll(() => dense.textContent("#dense .tooltip"))
          .toBe(`task-0999 under cluster 19: ${loss(999, 19)?.toFixed(4)}`);
        expect(await dense.isVisible("#dense .tooltip")).toBe(true);
        await dense.screenshot({ path: `${ARTIFACTS}console-heatmap-1000.png` });
      } finally {
        await dense.close();
      }
    },
  );

  it("evaluates the held-out report over the queue and shows it when every task reported", async () => {
    await page.click("#held-out");
    await expect
      .poll(() => page.textContent("#report"), { timeout: 120_000 })
      .toMatch(/Held-out exact match: \d+\.\d%/);
    expect(await page.locator("#report tr").count()).toBe(40 + 1);
  });

  it("publishes the run (twice: one release, issue 23), stages another and rolls back to the first", async () => {
    const releases = async () =>
      ((await (await worker.call("/v1/profiles/phones/releases")).json()) as { releases: { version: number }[] })
        .releases;
    for (let click = 0; click < 2; click++) {
      await page.selectOption("#profile", "phones");
      await page.click("#publish");
      await expect.poll(() => page.textContent("#report")).toContain("Published release 1");
    }
    expect((await releases()).map((r) => r.version)).toEqual([1]);
    // The same run at another rollout is another release: one to roll back from.
    const runId = decodeURIComponent(/#run\/(.+)$/.exec(page.url())?.[1] ?? "");
    const staged = await worker.call("/v1/profiles/phones/releases", {
      method: "POST",
      body: JSON.stringify({ runId, rollout: 50 }),
    });
    expect(staged.status).toBe(201);
    await page.goto(`${worker.url}/#profiles`);
    await page.waitForSelector("button.rollback[data-version='1']");
    await page.click("button.rollback[data-version='1']");
    await page.waitForSelector("tr[data-version='3']");
    expect(await page.textContent("tr[data-version='3']")).toContain("rollback of 1");
    await shot("profiles");
  });

  it("shows an alloc run's parts: per task its rank, dtype, bytes and few-shot loss, and the budget used", async () => {
    const post = (path: string, body: unknown, method = "POST") =>
      worker.call(path, { method, body: JSON.stringify(body) });
    const tasks = ["gec-de", "qa-en", "reply-fr"];
    expect(
      (
        await post(
          "/v1/profiles/phones-parts",
          { modelId: "d2c-char-lm", budget: { maxBytes: 20_000 }, formats: ["parts"], maxSubsets: 0 },
          "PUT",
        )
      ).status,
    ).toBe(200);
    const started = await post("/v1/runs", {
      method: "alloc",
      profile: "phones-parts",
      tasks,
      parts: { configs: [{ rank: 2, dtype: "int4" }] },
    });
    const { runId } = (await started.json()) as { runId: string };
    await page.goto(`${worker.url}/#run/${encodeURIComponent(runId)}`);
    await page.waitForSelector("#run-state.done", { timeout: 120_000 });
    await page.waitForSelector("#parts tr");
    expect(await page.locator("#parts tr").count()).toBe(tasks.length + 1);
    const status = (await (await worker.call(`/v1/runs/${runId}`)).json()) as {
      result: { budget: { bytes: number }; clusters: { part: unknown }[] };
    };
    expect(await page.textContent("#parts-budget")).toBe(
      `${status.result.budget.bytes} of 20000 bytes ` +
        `(${((100 * status.result.budget.bytes) / 20_000).toFixed(1)}%), ` +
        `${status.result.clusters.filter((c) => c.part).length} of 3 tasks with a part`,
    );
    expect(await page.textContent("#parts")).toMatch(/rank 2 int4|base model/);
    await shot("run-parts");
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
