/**
 * The operator console in Debian's Chromium (playwright-core) against a real local Worker
 * seeded with the fixtures: start a run, watch it finish, read the heatmap, publish, roll back.
 * Screenshots of each page go to test-artifacts/ (not committed).
 */
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { LocalWorker } from "../node/worker.ts";
import { ARTIFACTS, hasChromium, openConsole, PAGE_TIMEOUT, type ConsoleSession } from "./session.ts";

let session: ConsoleSession;
let worker: LocalWorker;
let browser: Browser;
let page: Page;
let errors: string[];
let cspViolations: string[];

beforeAll(async () => {
  if (!hasChromium) return;
  session = await openConsole();
  ({ worker, browser, page, errors, cspViolations } = session);
});

afterAll(async () => {
  await session?.close();
});

const shot = (name: string) => session.shot(name);
/** The D2C run the console starts (its list row, report and releases are checked after it). */
let d2cRun = "";
/**
 * Its tasks: two applications in all eight languages. The pages draw 16 rows as they draw 40
 * (console-scale.test.ts draws 200 and 12,000); the run and its held-out report cost 2/5 of the
 * catalogue's forward passes.
 */
const RUN_TASKS = { patterns: "gec-*, reply-*", count: 16 };

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
  it("asks for the token, shows a wrong one's refusal, and clears it as the right one lists the 40 tasks", async () => {
    await page.goto(`${worker.url}/`);
    await expect.poll(() => page.textContent("#view")).toContain("Admin token");
    await page.fill("#token", "not-the-admin-token");
    await page.click("#token-form button");
    await page.waitForSelector("#error:not([hidden])");
    expect(await page.textContent("#error")).toMatch(/^\/v1\/tasks: /);
    await page.fill("#token", worker.token);
    await page.click("#token-form button");
    await page.waitForSelector("#tasks tbody tr");
    // The first success clears the token's refusal: it is not left over the working page for its 6 s.
    expect(await page.isHidden("#error")).toBe(true);
    expect(await page.locator("#tasks tbody tr").count()).toBe(40);
    await shot("catalogue");
  });

  it("searches the catalogue by id, filters it by model, application and language, runs what it shows", async () => {
    const { tasks } = (await (await worker.call("/v1/tasks")).json()) as {
      tasks: { id: string; modelId: string; application: string; language: string }[];
    };
    const shown = () => page.$$eval("#tasks tbody tr", (trs) => trs.map((tr) => tr.getAttribute("data-task")));
    // By id, without case.
    await page.fill("#filter input[name=q]", "-DE");
    const german = tasks.map((t) => t.id).filter((id) => id.includes("-de"));
    expect(german.length).toBeGreaterThan(1);
    await expect.poll(shown).toEqual(german);
    expect(await page.textContent("#shown")).toBe(`${german.length} of 40 tasks`);
    await page.fill("#filter input[name=q]", "no-such-task");
    await expect.poll(shown).toEqual([]);
    expect(await page.isHidden("#run-these")).toBe(true);
    // Each filter offers the values the catalogue has, and they combine.
    await page.fill("#filter input[name=q]", "");
    const options = (name: string) =>
      page.$$eval(`#filter select[name=${name}] option`, (os) =>
        os.map((o) => o.getAttribute("value") ?? o.textContent),
      );
    expect(await options("modelId")).toEqual(["", ...new Set(tasks.map((t) => t.modelId))]);
    expect(await options("application")).toEqual(["", ...[...new Set(tasks.map((t) => t.application))].sort()]);
    await page.selectOption("#filter select[name=application]", "qa");
    const qa = tasks.filter((t) => t.application === "qa").map((t) => t.id);
    await expect.poll(shown).toEqual(qa);
    await page.selectOption("#filter select[name=language]", "it");
    await expect.poll(shown).toEqual(["qa-it"]);
    await page.selectOption("#filter select[name=modelId]", tasks[0].modelId);
    await expect.poll(shown).toEqual(["qa-it"]);
    // The shown tasks become the run form's task list.
    await page.selectOption("#filter select[name=language]", "");
    await expect.poll(shown).toEqual(qa);
    await page.click("#run-these");
    await page.waitForSelector("#start-run input[name=tasks]");
    expect(await page.inputValue("#start-run input[name=tasks]")).toBe(qa.join(", "));
    expect(await page.textContent("#task-preview")).toBe(`${qa.length} of 40 tasks: ${qa.join(" ")}`);
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
    await page.click("#start-run button[type=submit]");
    await expect.poll(() => page.textContent("#error")).toBe(`/v1/runs: profile: no profile ${id}`);
    expect(await page.locator("img").count()).toBe(0);
    // A view whose load fails shows the server's message in place of the view, as text too.
    await page.goto(`${worker.url}/#run/${encodeURIComponent(id)}`);
    await expect.poll(() => page.textContent("#view")).toContain("run id must match");
    expect(await page.locator("img").count()).toBe(0);
    expect(await page.title()).toBe("d2c-edge console");
  });

  it("creates a device profile and states its match rules in words", async () => {
    await page.goto(`${worker.url}/#profiles`);
    await page.fill("#new-profile input[name=id]", "phones");
    await page.fill("#new-profile input[name=maxAdapters]", "5");
    await page.fill("#new-profile input[name=minRamMb]", "2048");
    // Two formats: its releases have two blobs per merged adapter (the adapter counts below).
    await page.selectOption("#new-profile select[name=formats]", "peft,onnx_adapter");
    await page.click("#new-profile button");
    await page.waitForSelector("section.profile[data-profile=phones]");
    const phones = "section.profile[data-profile=phones]";
    expect(await page.textContent(`${phones} p.match`)).toBe("Serves devices with RAM at least 2048 MB");
    // No device has stated a need yet: a note in place of the table.
    expect(await page.textContent(`${phones} div.subsets`)).toContain("no subset releases");
    // Every rule, and a profile with none.
    const put = (id: string, match: object) =>
      worker.call(`/v1/profiles/${id}`, {
        method: "PUT",
        body: JSON.stringify({ modelId: "d2c-char-lm", budget: { maxAdapters: 3 }, match }),
      });
    const tablets = {
      minRamMb: 6144,
      maxRamMb: 16384,
      socs: ["sm8650", "Tensor-G3"],
      models: ["Pixel 9"],
      os: ["android"],
    };
    expect((await put("tablets", tablets)).status).toBe(200);
    expect((await put("anything", {})).status).toBe(200);
    await page.reload();
    await page.waitForSelector("section.profile[data-profile=tablets]");
    expect(await page.textContent("section.profile[data-profile=tablets] p.match")).toBe(
      "Serves devices with RAM at least 6144 MB and RAM at most 16384 MB and SoC sm8650 or Tensor-G3 and " +
        "model Pixel 9 and OS android",
    );
    expect(await page.textContent("section.profile[data-profile=anything] p.match")).toBe(
      "Serves every device (no match rules)",
    );
    expect(await page.textContent("#view")).not.toContain("{");
    await shot("profiles-new");
    for (const id of ["tablets", "anything"])
      expect((await worker.call(`/v1/profiles/${id}`, { method: "DELETE" })).status).toBeLessThan(300);
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

  it("starts a D2C run, follows it to done, and shows the loss heatmap and where each task went", async () => {
    await page.goto(`${worker.url}/#runs`);
    await page.fill("#start-run input[name=k]", "5");
    // One start: the default's four are the Worker tests' to check.
    await page.fill("#start-run input[name=restarts]", "1");
    await page.fill("#start-run input[name=tasks]", RUN_TASKS.patterns);
    await shot("runs");
    await page.click("#start-run button[type=submit]");
    await page.waitForSelector("#run-state");
    await page.waitForSelector("#run-state.done", { timeout: 180_000 });
    await page.waitForSelector('#heatmap .heatmap canvas[role=img][aria-label="loss heatmap"]');
    const chart = page.locator("#heatmap .heatmap");
    expect(await chart.getAttribute("data-rows")).toBe(String(RUN_TASKS.count));
    expect(await chart.getAttribute("data-clusters")).toBe("5");
    expect(await page.textContent("#summary")).toContain("K=5");
    // The pointer over a cell the Worker has a loss for names the task, the cluster and the loss.
    const runId = decodeURIComponent(/#run\/(.+)$/.exec(page.url())?.[1] ?? "");
    d2cRun = runId;
    const status = (await (await worker.call(`/v1/runs/${runId}`)).json()) as {
      tasks: string[];
      restarts: number;
      result: { assignment: Record<string, number> };
    };
    expect(status.restarts).toBe(1);
    // One task per application and language here: each cell is its task's square, in the task's result cluster.
    const grid = await page.$$eval("#membership g.cell rect[data-task]", (rects) =>
      Object.fromEntries(rects.map((r) => [r.getAttribute("data-task"), Number(r.getAttribute("data-cluster"))])),
    );
    expect(grid).toEqual(status.result.assignment);
    expect(await page.locator("#membership g.cell").count()).toBe(RUN_TASKS.count);
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
    expect(await page.locator("#report tr").count()).toBe(RUN_TASKS.count + 1);
  });

  it("answers a publish of the run that already is the profile's newest release with that release", async () => {
    // Needs the server's idempotent publish (issue 23 item 2): without it the second click makes release 2.
    const profile = { modelId: "d2c-char-lm", budget: { maxAdapters: 5 } };
    expect((await worker.call("/v1/profiles/watches", { method: "PUT", body: JSON.stringify(profile) })).status).toBe(
      200,
    );
    try {
      await page.reload();
      await page.waitForSelector("#publish");
      await page.selectOption("#profile", "watches");
      await page.click("#publish");
      await expect.poll(() => page.textContent("#report")).toBe("Published release 1 of profile watches.");
      await page.click("#publish");
      await expect
        .poll(() => page.textContent("#report"))
        .toBe("Release 1 of profile watches already is this run: nothing to publish.");
    } finally {
      await worker.call("/v1/profiles/watches?retire=true", { method: "DELETE" });
    }
  });

  it("lists the finished run with its state, method, K, J, held-out score, duration and cost", async () => {
    const status = (await (await worker.call(`/v1/runs/${d2cRun}`)).json()) as {
      ms: number;
      result: { objective: number };
      report: { meanExactMatch: number };
      cost: { estimate: { usd: number } };
    };
    const row = `#runs tr[data-run="${d2cRun}"]`;
    const cells = async () => {
      await page.reload();
      await page.waitForSelector(row);
      return page.$$eval(`${row} td`, (tds) => tds.map((td) => td.textContent));
    };
    await page.goto(`${worker.url}/#runs`);
    // The index gains the held-out score once the report's end has gone through the queue.
    await expect
      .poll(cells, { timeout: 60_000 })
      .toEqual([
        d2cRun.slice(4, 12),
        expect.any(String),
        "done",
        "d2c",
        "5",
        String(RUN_TASKS.count),
        status.result.objective.toFixed(4),
        `${(100 * status.report.meanExactMatch).toFixed(1)}%`,
        duration(status.ms / 1000),
        `$${status.cost.estimate.usd.toPrecision(2)}`,
        "—",
        "",
      ]);
    expect(await page.locator(`${row} .state.done`).count()).toBe(1);
    await shot("runs-list");
  });

  it("publishes the run, again under a changed profile, counts adapters as the CLI does, and rolls back", async () => {
    await page.goto(`${worker.url}/#run/${d2cRun}`);
    await page.waitForSelector("#publish");
    await page.selectOption("#profile", "phones");
    await page.click("#publish");
    await expect.poll(() => page.textContent("#report")).toBe("Published release 1 of profile phones.");
    // A new version of the profile (another match rule) takes a new release of the same run.
    const phones = { modelId: "d2c-char-lm", budget: { maxAdapters: 5 }, formats: ["peft", "onnx_adapter"] };
    const changed = { ...phones, match: { minRamMb: 3072 } };
    expect((await worker.call("/v1/profiles/phones", { method: "PUT", body: JSON.stringify(changed) })).status).toBe(
      200,
    );
    await page.reload();
    await page.waitForSelector("#publish");
    await page.selectOption("#profile", "phones");
    await page.click("#publish");
    await expect.poll(() => page.textContent("#report")).toBe("Published release 2 of profile phones.");
    await page.goto(`${worker.url}/#profiles`);
    await page.waitForSelector("button.rollback[data-version='1']");
    expect(await page.textContent("section.profile[data-profile=phones] p.match")).toBe(
      "Serves devices with RAM at least 3072 MB",
    );
    await page.click("button.rollback[data-version='1']");
    await page.waitForSelector("tr[data-version='3']");
    expect(await page.textContent("tr[data-version='3']")).toContain("rollback of 1");
    // The adapters column as `npx d2c-edge releases` words it: merged adapters, then blobs (two formats each).
    const { releases } = (await (await worker.call("/v1/profiles/phones/releases")).json()) as {
      releases: { version: number; adapters: number; clusters: string[][] }[];
    };
    const adaptersColumn = 6;
    for (const r of releases) {
      expect(r.adapters).toBe(2 * r.clusters.length);
      expect(await page.textContent(`tr[data-version='${r.version}'] td:nth-child(${adaptersColumn + 1})`)).toBe(
        `${r.clusters.length} adapters (${r.adapters} blobs)`,
      );
    }
    expect(await page.textContent("tr[data-version='1'] td:nth-child(7)")).toBe("5 adapters (10 blobs)");
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

  it("starts a run on chosen tasks with restarts and tuned merges, and cancels it from the runs list", async () => {
    const form = "#start-run";
    await page.goto(`${worker.url}/#runs`);
    await page.waitForSelector(form);
    // A pattern that matches nothing is named, and nothing starts.
    await page.fill(`${form} input[name=tasks]`, "qa-*, nope-*");
    await expect.poll(() => page.textContent("#task-preview")).toBe("no task matches nope-*");
    await page.click(`${form} button[type=submit]`);
    await expect.poll(() => page.textContent("#error")).toBe("start run: no task matches nope-*");
    expect(page.url()).toMatch(/#runs$/);
    const { tasks } = (await (await worker.call("/v1/tasks")).json()) as { tasks: { id: string }[] };
    const chosen = tasks.map((t) => t.id).filter((id) => id.startsWith("qa-") && id !== "qa-ja");
    await page.fill(`${form} input[name=tasks]`, "qa-*, !qa-ja");
    await expect
      .poll(() => page.textContent("#task-preview"))
      .toBe(`${chosen.length} of 40 tasks: ${chosen.join(" ")}`);
    await page.fill(`${form} input[name=k]`, "2");
    await page.fill(`${form} input[name=restarts]`, "2");
    await page.selectOption(`${form} select[name=restartCriterion]`, "loss");
    // The merge method's parameters are the registry's (GET /v1/capabilities): ties_svd's density, not svd's.
    await page.selectOption(`${form} select[name=merge]`, "ties_svd");
    await page.waitForSelector(`${form} input[name="merge.density"]`);
    await page.selectOption(`${form} select[name=merge]`, "svd");
    expect(await page.locator(`${form} input[name="merge.density"]`).count()).toBe(0);
    await page.fill(`${form} input[name="merge.rank"]`, "4");
    await page.check(`${form} input[name=tune]`);
    await page.fill(`${form} input[name="tune.budget"]`, "2");
    await page.fill(`${form} input[name="tune.scales"]`, "1, 1.5");
    await page.uncheck(`${form} input[name="tune.scaleCoordinate"]`);
    await shot("run-form");
    await page.click(`${form} button[type=submit]`);
    await page.waitForURL(/#run\/run-/);
    const runId = decodeURIComponent(/#run\/(.+)$/.exec(page.url())?.[1] ?? "");
    try {
      const status = (await (await worker.call(`/v1/runs/${runId}`)).json()) as Record<string, unknown>;
      // The knobs left empty take the request schema's defaults (the OpenAPI document's, as the form read them).
      const doc = (await (await fetch(`${worker.url}/openapi.json`)).json()) as {
        paths: Record<string, { post: { requestBody: { content: Record<string, { schema: JsonSchema }> } } }>;
      };
      const tuneDefaults = Object.fromEntries(
        Object.entries(
          doc.paths["/v1/runs"].post.requestBody.content["application/json"].schema.properties.merge.properties.tune
            .properties,
        ).map(([name, p]) => [name, p.default]),
      );
      expect(status).toMatchObject({
        tasks: chosen,
        k: 2,
        restarts: 2,
        restartCriterion: "loss",
        merge: { method: "svd", rank: 4 },
        tune: { ...tuneDefaults, budget: 2, scales: [1, 1.5], scaleCoordinate: false },
      });
      // Cancelled from its row in the list (the row's state is the server's runs index, issue 23 item 3's fields).
      await page.goto(`${worker.url}/#runs`);
      const row = `#runs tr[data-run="${runId}"]`;
      await page.waitForSelector(`${row} button.cancel`, { timeout: 30_000 });
      await page.click(`${row} button.cancel`);
      await expect.poll(() => page.textContent(`${row} td.run-state`)).toBe("cancelled");
      expect(await page.locator(`${row} button.cancel`).count()).toBe(0);
    } finally {
      await worker.call(`/v1/runs/${runId}/cancel`, { method: "POST" });
    }
    expect(((await (await worker.call(`/v1/runs/${runId}`)).json()) as { state: string }).state).toBe("cancelled");
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

/** A JSON schema as z.toJSONSchema writes the request's (only what the tests read). */
interface JsonSchema {
  properties: Record<string, JsonSchema>;
  default?: unknown;
}

/** A run's length as the runs list states it: seconds to a tenth under a minute, then whole units. */
function duration(seconds: number): string {
  if (seconds < 60) return `${seconds.toFixed(1)} s`;
  const whole = Math.round(seconds);
  if (whole < 3600) return `${Math.floor(whole / 60)} min ${whole % 60} s`;
  return `${Math.floor(whole / 3600)} h ${Math.floor((whole % 3600) / 60)} min`;
}
