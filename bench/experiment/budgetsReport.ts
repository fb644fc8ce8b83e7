/** docs/budgets.md (the table, the simplest competitor beside D2C) and docs/budgets.svg (the plot) of budgets.ts. */
import type { BudgetMethod, BudgetRow, BudgetsReport } from "./budgets.ts";

const METHODS: readonly BudgetMethod[] = ["alloc", "own-compressed", "shared", "d2c-tuned", "d2c"];
const COLOURS: Record<BudgetMethod, string> = {
  alloc: "#d62728",
  "own-compressed": "#ff7f0e",
  shared: "#9467bd",
  "d2c-tuned": "#1f77b4",
  d2c: "#17becf",
};

const mean = (xs: readonly number[]) => xs.reduce((s, x) => s + x, 0) / xs.length;
const std = (xs: readonly number[]) => Math.sqrt(mean(xs.map((x) => (x - mean(xs)) ** 2)));
const pct = (f: number) => `${(100 * f).toFixed(1)}%`;

function cell(report: BudgetsReport, fraction: number, method: BudgetMethod): BudgetRow[] {
  return report.rows.filter((r) => r.budgetFraction === fraction && r.method === method);
}

const summary = (rows: readonly BudgetRow[]) => {
  const xs = rows.map((r) => r.meanExactMatch);
  return rows.length ? `${mean(xs).toFixed(1)}${std(xs) >= 0.05 ? ` ± ${std(xs).toFixed(1)}` : ""}` : "-";
};

/** Held-out exact match per budget and method, mean ± std over seeds. */
export function budgetsTable(report: BudgetsReport): string[] {
  const fractions = [...new Set(report.rows.map((r) => r.budgetFraction))];
  return [
    `| budget | ${METHODS.join(" | ")} |`,
    `|---|${METHODS.map(() => "---").join("|")}|`,
    ...fractions.map((f) => `| ${pct(f)} | ${METHODS.map((m) => summary(cell(report, f, m))).join(" | ")} |`),
  ];
}

/** docs/results.md's section on the same bytes spent other ways. */
export function budgetsSection(report: BudgetsReport): string {
  return [
    "## The same bytes spent other ways",
    "",
    `Held-out exact match (%, mean ± std over seeds ${report.seeds.join(", ")}) against the bytes a device ` +
      `stores, as fractions of the`,
    "40 own adapters at fp16: D2C's K merged adapters beside each task's own adapter compressed (`own-compressed`, one",
    "rank and dtype for all), shared bases with per-task cores, and the allocator (`alloc`). Which configuration each",
    `method stored, its bytes and its forward passes: [budgets.md](budgets.md), from \`${report.command}\`.`,
    "",
    ...budgetsTable(report),
    "",
  ].join("\n");
}

export function budgetsMarkdown(report: BudgetsReport): string {
  const fractions = [...new Set(report.rows.map((r) => r.budgetFraction))];
  const parts = (p: Readonly<Record<string, number>>) =>
    Object.entries(p)
      .sort((a, b) => b[1] - a[1])
      .map(([c, n]) => `${c} x${n}`)
      .join(", ") || "(none: the base model)";
  return [
    "# Held-out exact match against the bytes a phone stores",
    "",
    `\`${report.command}\` (${(report.seconds / 60).toFixed(0)} min; seeds ${report.seeds.join(", ")}). ` +
      `Budgets are fractions of ` +
      `the 40 own adapters at fp16 (${report.ownBytes} bytes);`,
    `a merged adapter (fp16, rank 8) counts ${report.mergedBytes} bytes, its tensors, as the own adapters ` +
      `do; a part file ` +
      "counts every byte, header included.",
    `Base model ${report.baseExactMatch.toFixed(1)}%. Every choice reads few-shot examples only; held-out ` +
      `exact match (%, ` +
      "mean ± std over seeds) is reported, never used.",
    "",
    "- `d2c`, `d2c-tuned`: the largest K of merged adapters that fits (pruned D2C; restarts and tuned merges).",
    "- `own-compressed`, the simplest competitor: every task's own adapter truncated by SVD to one rank and stored " +
      "at one dtype (nf3, int4 or int8: blocks of 32, fp16 scales), the lowest mean few-shot loss that fits.",
    "- `shared`: a basis per cluster of `d2c`'s clustering and a full core per task, int4, the largest rank that " +
      "fits, at the K with the lowest few-shot loss.",
    "- `alloc` (`src/budget`): per task a private part (ranks 1-8 at nf3, int4 or int8) or none, the least summed " +
      "few-shot loss that fits: what a `parts` profile's run ships.",
    "",
    ...budgetsTable(report),
    "",
    "![held-out exact match against storage](budgets.svg)",
    "",
    "## What each method stores (seed 0), and what its choice cost",
    "",
    "| budget | method | held-out | bytes | few-shot forward passes | parts |",
    "|---|---|---|---|---|---|",
    ...fractions.flatMap((f) =>
      METHODS.flatMap((m) =>
        cell(report, f, m)
          .filter((r) => r.seed === report.seeds[0])
          .map(
            (r) =>
              `| ${pct(f)} (${r.budgetBytes}) | ${m} | ${r.meanExactMatch.toFixed(1)} | ${r.bytes} | ` +
              `${r.forwardPasses} | ${parts(r.parts)} |`,
          ),
      ),
    ),
    "",
  ].join("\n");
}

export function budgetsSvg(report: BudgetsReport): string {
  const W = 640,
    H = 400,
    L = 60,
    R = 140,
    T = 30,
    B = 50;
  const fractions = [...new Set(report.rows.map((r) => r.budgetFraction))].sort((a, b) => a - b);
  const lo = Math.log(fractions[0]);
  const hi = Math.log(fractions.at(-1)!);
  const x = (f: number) => L + ((W - L - R) * (Math.log(f) - lo)) / (hi - lo);
  const y = (v: number) => T + ((H - T - B) * (100 - v)) / 100;
  const series = METHODS.map((m) => {
    const points = fractions.map((f) => [x(f), y(mean(cell(report, f, m).map((r) => r.meanExactMatch)))] as const);
    return (
      `<polyline fill="none" stroke="${COLOURS[m]}" stroke-width="2" ` +
      `points="${points.map((p) => p.join(",")).join(" ")}"/>` +
      points.map(([px, py]) => `<circle cx="${px}" cy="${py}" r="3" fill="${COLOURS[m]}"/>`).join("")
    );
  });
  const xticks = fractions.map(
    (f) => `<text x="${x(f)}" y="${H - B + 18}" text-anchor="middle">${pct(f).replace(".0%", "%")}</text>`,
  );
  const yticks = [0, 20, 40, 60, 80, 100].map(
    (v) =>
      `<text x="${L - 8}" y="${y(v) + 4}" text-anchor="end">${v}</text><line x1="${L}" x2="${W - R}" ` +
      `y1="${y(v)}" y2="${y(v)}" stroke="#eee"/>`,
  );
  const legend = METHODS.map(
    (m, i) =>
      `<rect x="${W - R + 12}" y="${T + i * 20}" width="12" height="3" fill="${COLOURS[m]}"/><text ` +
      `x="${W - R + 30}" y="${T + i * 20 + 5}">${m}</text>`,
  );
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="12">
<rect width="${W}" height="${H}" fill="white"/>
${yticks.join("\n")}
<line x1="${L}" x2="${W - R}" y1="${H - B}" y2="${H - B}" stroke="#333"/><line x1="${L}" x2="${L}" y1="${T}" ` +
    `y2="${H - B}" stroke="#333"/>
${xticks.join("\n")}
<text x="${(L + W - R) / 2}" y="${H - 10}" text-anchor="middle">bytes stored, % of the 40 own adapters at fp16 (log ` +
    `scale)</text>
<text x="16" y="${(T + H - B) / 2}" text-anchor="middle" transform="rotate(-90 16 ${(T + H - B) / 2})">held-out ` +
    `exact match (%)</text>
${series.join("\n")}
${legend.join("\n")}
</svg>
`
  );
}
