/**
 * `npm run bench:scale [-- --ns 40,200,1000 --ks 5,20 --m 2 --ranking stale --max-iterations 10 --estimate-full-from
 * 1000]`:
 * pruned D2C (`d2c`) against the full schedule (`d2c-full`) as N grows (issue 12), on the Worker's
 * own modules in Node (onnxruntime-node, one thread), each run from an empty loss cache. N = 40
 * is the reference world (r2-fixtures); larger N are scale worlds from `npm run world` (generated
 * under --worlds if missing, seed 0). Full D2C at N >= --estimate-full-from runs one iteration
 * and is extrapolated (marked `estimated`). Writes docs/scale.json, docs/scale.md, docs/scale.svg.
 */
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { taskSimilarity } from "../src/clustering/taskVectors.ts";
import { cluster, type Method } from "./experiment/methods.ts";
import { Scorer } from "./experiment/scorer.ts";
import { loadWorld } from "./experiment/world.ts";

const { values } = parseArgs({
  allowNegative: true,
  options: {
    ns: { type: "string", default: "40,200,1000" },
    ks: { type: "string", default: "5,20" },
    m: { type: "string", default: "2" },
    ranking: { type: "string", default: "stale" },
    "max-iterations": { type: "string", default: "10" },
    "estimate-full-from": { type: "string", default: "1000" },
    fixtures: { type: "string", default: "r2-fixtures" },
    worlds: { type: "string", default: "/tmp/d2c-scale-worlds" },
    out: { type: "string", default: "docs" },
    /** Force a full (or, with --no-full-first, a pruned) first iteration; default: the rule of fullFirstByDefault. */
    "full-first": { type: "boolean" },
    /** Keep --out's scale.json rows for other (n, k, method) and add these: runs split over sessions. */
    append: { type: "boolean", default: false },
    /** scale.json files of other runs whose rows are added (same rule as --append): N = 1000 run apart. */
    merge: { type: "string", default: "" },
  },
});
const ns = values.ns.split(",").filter(Boolean).map(Number);
const ks = values.ks.split(",").map(Number);
const maxIterations = Number(values["max-iterations"]);
const estimateFrom = Number(values["estimate-full-from"]);
const prune = { m: Number(values.m), fullFirst: values["full-first"] };
const ranking = values.ranking as "loss" | "similarity" | "stale";
const MERGE = { method: "svd", rank: 8 } as const;

export interface ScaleRow {
  readonly n: number;
  readonly k: number;
  readonly method: "d2c" | "d2c-full";
  readonly iterations: number;
  readonly forwardPasses: number;
  readonly naiveForwardPasses: number;
  readonly wallSeconds: number;
  /** Best J (mean few-shot NLL of each task under its cluster) over the run's iterations. */
  readonly objective: number;
  /** Extrapolated from one iteration (full schedule at large N): see docs/scale.md. */
  readonly estimated?: boolean;
  readonly fixedPoint?: boolean;
}

function worldDir(n: number): string {
  if (n === 40) return values.fixtures;
  const dir = join(values.worlds, `n${n}`);
  if (!existsSync(join(dir, "catalogue.json"))) {
    console.log(`generating the scale world N=${n} into ${dir}`);
    execFileSync("npm", ["run", "--silent", "world", "--", "--n", String(n), "--seed", "0", "--out", dir], {
      stdio: "inherit",
    });
  }
  return dir;
}

const rows: ScaleRow[] = [];
const readRows = (file: string): ScaleRow[] => JSON.parse(readFileSync(file, "utf8"));
const earlier: ScaleRow[] = [
  ...(values.append && existsSync(join(values.out, "scale.json")) ? readRows(join(values.out, "scale.json")) : []),
  ...values.merge.split(",").filter(Boolean).flatMap(readRows),
];
const started = performance.now();
for (const n of ns) {
  const loadStart = performance.now();
  const world = await loadWorld(worldDir(n), 1);
  const similarity = taskSimilarity(
    world.tasks.map((t) => t.adapter),
    world.model.contract.loraTargets,
  );
  const batches = world.tasks[0].fewshot.length;
  console.log(`N=${n}: loaded with task similarities in ${((performance.now() - loadStart) / 1000).toFixed(1)} s`);
  for (const k of ks.filter((k) => k <= n)) {
    for (const method of ["d2c", "d2c-full"] as Method[]) {
      const scorer = new Scorer(world, MERGE);
      const start = performance.now();
      const estimate = method === "d2c-full" && n >= estimateFrom;
      const run = await cluster(method, scorer, similarity, n, k, 0, estimate ? 1 : maxIterations, { prune, ranking });
      const wallSeconds = (performance.now() - start) / 1000;
      let row: ScaleRow = {
        n,
        k,
        method: method as ScaleRow["method"],
        iterations: run.iterations.length,
        forwardPasses: scorer.forwardPasses,
        naiveForwardPasses: n * k * run.iterations.length * batches,
        wallSeconds,
        objective: Math.min(...run.iterations.map((i) => i.objective)),
        fixedPoint: run.fixedPoint ?? false,
      };
      if (estimate) {
        // One full iteration measured; assume as many iterations as the pruned run took, every later
        // iteration as dear as the first (an upper bound: the loss cache saves unchanged clusters), J unknown
        // beyond the first iteration's, so J is the pruned run's k-means start, not comparable.
        const pruned = rows.find((r) => r.n === n && r.k === k && r.method === "d2c");
        const iterations = pruned?.iterations ?? 1;
        row = {
          ...row,
          iterations,
          forwardPasses: row.forwardPasses * iterations,
          naiveForwardPasses: n * k * iterations * batches,
          wallSeconds: wallSeconds * iterations,
          estimated: true,
          fixedPoint: false,
        };
      }
      rows.push(row);
      console.log(
        `N=${n} K=${k} ${method}${row.estimated ? " (estimated from 1 iteration)" : ""}: ${row.iterations} ` +
          `iterations, ` +
          `${row.forwardPasses} forward passes of ${row.naiveForwardPasses} naive ` +
          `(${((100 * row.forwardPasses) / row.naiveForwardPasses).toFixed(0)}%), ` +
          `${row.wallSeconds.toFixed(1)} s, J ` +
          `${row.objective.toFixed(4)}${row.fixedPoint ? ", full-sweep fixed point" : ""}`,
      );
    }
  }
}
const seconds = (performance.now() - started) / 1000;
console.log(`bench:scale: ${seconds.toFixed(0)} s`);
const all = [
  ...earlier.filter((e) => !rows.some((r) => r.n === e.n && r.k === e.k && r.method === e.method)),
  ...rows,
].sort((a, b) => a.n - b.n || a.k - b.k || a.method.localeCompare(b.method));
writeFileSync(join(values.out, "scale.json"), `${JSON.stringify(all, null, 1)}\n`);
writeFileSync(join(values.out, "scale.svg"), plot(all));
writeFileSync(join(values.out, "scale.md"), markdown(all, seconds, earlier.length > 0));

function markdown(rows: readonly ScaleRow[], seconds: number, appended: boolean): string {
  const pct = (a: number, b: number) => `${((100 * a) / b).toFixed(0)}%`;
  const full = (r: ScaleRow) => rows.find((x) => x.n === r.n && x.k === r.k && x.method === "d2c-full");
  return [
    "# Pruned D2C against the full schedule as N grows",
    "",
    `Forward passes (one per few-shot batch of a task under a merged adapter; the loss cache answers a ` +
      `(cluster, task) pair scored`,
    `twice in a run) of D2C from the k-means start, seed 0, merge ${JSON.stringify(MERGE)}, at most ` +
      `${maxIterations} iterations.`,
    `\`d2c\` is pruned D2C (m = ${prune.m}, ranking \`${ranking}\`: each task under its own cluster and its ` +
      `${prune.m} most promising others,`,
    "widened to a full sweep whenever a pruned iteration moves nothing; only a full sweep that moves nothing " +
      "ends the run;",
    "the first iteration is full where clusters average 4 tasks or fewer, N <= 4K, else ranked by task similarity);",
    "`d2c-full` evaluates every task under every cluster every iteration. Naive = N x K x iterations (x " +
      "few-shot batches).",
    "N = 40 is the reference world (r2-fixtures); larger N are scale worlds (`npm run world -- --n N --seed 0`).",
    "",
    "| N | K | method | iterations | forward passes | naive | of naive | wall s | best J | J vs full |",
    "|---|---|---|---|---|---|---|---|---|---|",
    ...rows.map((r) => {
      const f = full(r);
      const vs =
        r.method === "d2c" && f && !f.estimated
          ? `${((100 * (r.objective - f.objective)) / f.objective).toFixed(2)}%`
          : "";
      return (
        `| ${r.n} | ${r.k} | ${r.method}${r.estimated ? " (estimated)" : ""} | ${r.iterations} | ` +
        `${r.forwardPasses} | ${r.naiveForwardPasses} | ` +
        `${pct(r.forwardPasses, r.naiveForwardPasses)} | ${r.wallSeconds.toFixed(1)} | ` +
        `${r.estimated ? "n/a" : r.objective.toFixed(4)} | ${vs} |`
      );
    }),
    "",
    rows.some((r) => r.estimated)
      ? "Rows marked estimated ran one full iteration and assume the pruned run's number of iterations, each " +
        "costing N x K passes (an upper bound: the cache saves unchanged clusters); their J is not measured."
      : "",
    "",
    "![forward passes against N](scale.svg)",
    "",
    `Produced by \`npm run bench:scale -- --ns ${ns.join(",")} --ks ${ks.join(",")} --m ${prune.m} --ranking ` +
      `${ranking}${values.append ? " --append" : ""}${values.merge ? ` --merge ${values.merge}` : ""}\` in ` +
      `${seconds.toFixed(0)} s` +
      `${appended ? " (added to the rows of an earlier run for other N)" : ""} (onnxruntime-node, one thread, ` +
      `this machine: 2 cores, other work running beside it).`,
    "Every number: [scale.json](scale.json).",
    "",
  ].join("\n");
}

function plot(rows: readonly ScaleRow[]): string {
  const W = 640,
    H = 400,
    L = 70,
    R = 150,
    T = 30,
    B = 50;
  const xs = [...new Set(rows.map((r) => r.n))].sort((a, b) => a - b);
  const ys = rows.flatMap((r) => [r.forwardPasses, r.naiveForwardPasses]).filter((v) => v > 0);
  const [x0, x1] = [Math.log(Math.min(...xs)) - 0.2, Math.log(Math.max(...xs)) + 0.2];
  const [y0, y1] = [Math.floor(Math.log10(Math.min(...ys))), Math.ceil(Math.log10(Math.max(...ys)))];
  const x = (n: number) => L + ((W - L - R) * (Math.log(n) - x0)) / (x1 - x0);
  const y = (v: number) => T + (H - T - B) * (1 - (Math.log10(v) - y0) / (y1 - y0));
  const COLOURS = {
    "d2c 5": "#2ca02c",
    "d2c 20": "#17becf",
    "d2c-full 5": "#9467bd",
    "d2c-full 20": "#d62728",
  } as Record<string, string>;
  const series = [...new Set(rows.map((r) => `${r.method} ${r.k}`))].map((key, i) => {
    const colour = COLOURS[key] ?? ["#8c564b", "#e377c2", "#7f7f7f", "#bcbd22"][i % 4];
    const pts = rows
      .filter((r) => `${r.method} ${r.k}` === key)
      .map((r) => ({ px: x(r.n), py: y(r.forwardPasses), est: r.estimated }));
    const dash = key.startsWith("d2c-full") ? ' stroke-dasharray="6 3"' : "";
    return (
      `<polyline fill="none" stroke="${colour}" stroke-width="2"${dash} ` +
      `points="${pts.map((p) => `${p.px},${p.py}`).join(" ")}"/>` +
      pts
        .map((p) => `<circle cx="${p.px}" cy="${p.py}" r="3" fill="${p.est ? "white" : colour}" stroke="${colour}"/>`)
        .join("") +
      `<rect x="${W - R + 12}" y="${T + i * 20}" width="12" height="3" fill="${colour}"/><text ` +
      `x="${W - R + 30}" y="${T + i * 20 + 5}">${key.replace(" ", ", K=")}</text>`
    );
  });
  const xticks = xs.map((n) => `<text x="${x(n)}" y="${H - B + 18}" text-anchor="middle">${n}</text>`);
  const yticks = Array.from({ length: y1 - y0 + 1 }, (_, i) => 10 ** (y0 + i)).map(
    (v) =>
      `<text x="${L - 8}" y="${y(v) + 4}" text-anchor="end">${v.toLocaleString("en")}</text><line x1="${L}" ` +
      `x2="${W - R}" y1="${y(v)}" y2="${y(v)}" stroke="#eee"/>`,
  );
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="12">
<rect width="${W}" height="${H}" fill="white"/>
${yticks.join("\n")}
<line x1="${L}" x2="${W - R}" y1="${H - B}" y2="${H - B}" stroke="#333"/><line x1="${L}" x2="${L}" y1="${T}" ` +
    `y2="${H - B}" stroke="#333"/>
${xticks.join("\n")}
<text x="${(L + W - R) / 2}" y="${H - 10}" text-anchor="middle">tasks N (log scale)</text>
<text x="16" y="${(T + H - B) / 2}" text-anchor="middle" transform="rotate(-90 16 ${(T + H - B) / 2})">forward ` +
    `passes per run (log scale)</text>
${series.join("\n")}
<text x="${W - R + 12}" y="${T + 100}">open circle: estimated</text>
</svg>
`
  );
}
