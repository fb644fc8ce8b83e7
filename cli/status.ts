/** `d2c-edge status <runId>`: a run's events as they happen, then its summary. */
import type { RunStatus, TunedCluster } from "../src/runs/status.ts";
import { unitWeight } from "../src/tuning/screen.ts";
import type { Api } from "./api.ts";
import type { Command } from "./command.ts";
import { followRun, type RunEvent } from "./runEvents.ts";

export const status: Command = {
  name: "status",
  usage: "<runId> [--json]",
  summary:
    "Follow a run live (one line per event on stderr), then print its state, J per iteration, clusters and cost.",
  help: `Exit code 1 when the run failed or was cancelled.

Options:
  --json           print GET /v1/runs/:id as JSON instead of the summary`,
  options: { json: { type: "boolean" } },
  positionals: ["runId"],
  run: ({ values, positionals, api }) => watchRun(api, positionals[0], values.json === true),
};

/** Follows the run to its end and prints it; resolves to the exit code. */
export async function watchRun(api: Api, runId: string, json: boolean): Promise<number> {
  const line = new EventLine();
  await followRun(api, runId, (event) => line.show(event));
  line.finish();
  const run = await api.json<RunStatus>("GET", `/v1/runs/${runId}`);
  console.log(json ? JSON.stringify(run, null, 2) : summary(run));
  return run.state === "done" ? 0 : 1;
}

/** Event lines on stderr; on a terminal, per-unit progress redraws one line instead of scrolling. */
class EventLine {
  private readonly tty = process.stderr.isTTY === true;
  private redrawing = false;
  private previous: number[] | null = null;

  show(event: RunEvent): void {
    const text = this.describe(event);
    if (this.tty && event.type === "progress") {
      process.stderr.write(`\r\x1b[K${text}`);
      this.redrawing = true;
      return;
    }
    this.finish();
    process.stderr.write(`${text}\n`);
  }

  finish(): void {
    if (this.redrawing) process.stderr.write("\r\x1b[K");
    this.redrawing = false;
  }

  private describe({ type, data }: RunEvent): string {
    const at = `iteration ${data.iteration}`;
    switch (type) {
      case "started":
        return `started: ${data.method}, K=${data.k}, ${data.tasks} tasks`;
      case "iteration": {
        const assignment = data.assignment as number[];
        const moved = this.previous && movedTasks(this.previous, assignment);
        this.previous = assignment;
        return moved === null
          ? `${at}: first assignment of ${assignment.length} tasks`
          : `${at}: ${moved} task${moved === 1 ? "" : "s"} changed cluster`;
      }
      case "merged": {
        // An alloc run's iteration builds one part configuration for every task.
        if (data.part !== undefined)
          return `${at}: built part ${data.part} for every task (${bytes(data.bytes as number)})`;
        const clusters = data.clusters as { bytes: number }[];
        return `${at}: merged ${clusters.length} adapters (${bytes(clusters.reduce((s, c) => s + c.bytes, 0))})`;
      }
      case "progress":
        return `${at}: evaluated ${data.evaluated}/${data.units} units`;
      case "evaluated":
        return `${at}: J = ${(data.objective as number).toFixed(4)}`;
      case "allocated":
        return (
          `allocated: ${data.withParts} tasks with a part, ${bytes(data.bytes as number)} of ` +
          `${bytes(data.maxBytes as number)}`
        );
      case "resent":
        return `${at}: sent ${data.units} silent units again`;
      default:
        return data.reason ? `${type}: ${data.reason}` : type;
    }
  }
}

/**
 * Tasks that changed cluster. The server numbers clusters afresh each iteration (canonical
 * order), so each new cluster is compared with the old one it shares most tasks with.
 */
export function movedTasks(before: readonly number[], after: readonly number[]): number {
  const counterpart = new Map<number, number>();
  for (const c of new Set(after)) {
    const overlap = new Map<number, number>();
    after.forEach((a, t) => a === c && overlap.set(before[t], (overlap.get(before[t]) ?? 0) + 1));
    counterpart.set(c, [...overlap].sort((x, y) => y[1] - x[1] || x[0] - y[0])[0][0]);
  }
  return after.filter((c, t) => counterpart.get(c) !== before[t]).length;
}

function summary(run: RunStatus): string {
  // An alloc run measures one part configuration per iteration (0: the base model), each task alone.
  const alloc = run.method === "alloc";
  const lines = [
    `${run.runId}: ${run.state}${run.reason ? ` (${run.reason})` : ""} after ${(run.ms / 1000).toFixed(1)} s`,
    alloc
      ? `  alloc: ${run.tasks.length} tasks, each under ` +
        `${run.iterations.length > 1 ? run.iterations.length - 1 : "its"} part configurations and the base model`
      : `  ${run.method}, K=${run.k}, ${run.merge.method} ` +
        `merge${run.merge.rank ? ` rank ${run.merge.rank}` : ""}, seed ${run.seed}, ${run.tasks.length} tasks`,
    // A Worker older than the field answers without it: its runs ran in the Worker.
    `  evaluator: ${run.evaluator === "remote" ? "remote (the evaluator service)" : "wasm (in the Worker)"}`,
  ];
  const js = run.iterations
    .filter((i) => i.objective !== null)
    .map((i) => `${i.iteration}: ${i.objective!.toFixed(4)}`);
  if (js.length)
    lines.push(
      `${alloc ? "mean few-shot loss per configuration (0: base model)" : "J per iteration"}: ${js.join("  ")}`,
    );
  const shown = run.result ?? run.iterations.at(-1);
  if (run.result && alloc) {
    lines.push(`allocated: J = ${run.result.objective.toFixed(4)} (each task under its part)`);
  } else if (run.result) {
    const untuned = run.result.untunedObjective;
    lines.push(
      `best: iteration ${run.result.iteration}, J = ` +
        `${run.result.objective.toFixed(4)}` +
        `${untuned === undefined ? "" : ` with tuned merges (${untuned.toFixed(4)} uniform)`}`,
    );
  }
  if (run.result?.budget) {
    lines.push(...partLines(run));
  } else if (shown?.clusters.length) {
    lines.push(`clusters${run.result ? "" : ` (iteration ${shown.iteration}, not final)`}:`);
    // The summary names the tasks of the result's clusters; an iteration in progress gives sizes (its rows: GET
    // /v1/runs/:id/losses).
    for (const c of shown.clusters) {
      lines.push(
        `  ${String(c.cluster).padStart(2)}  ${bytes(c.bytes).padStart(9)}  ` +
          `${"tasks" in c ? c.tasks.join(" ") : `${c.size} tasks`}`,
      );
      if ("tuned" in c && c.tuned) lines.push(`      ${describeTuned(c.tuned)}`);
    }
  }
  const { units, cacheHits, forwardPasses, naiveUnits } = run.cost;
  lines.push(
    `cost: ${units} evaluations (${cacheHits} from the loss cache), ${forwardPasses} forward passes; the ` +
      `naive schedule needs ${naiveUnits}`,
  );
  if (run.cost.tuning?.candidates)
    lines.push(
      `  merge tuning: ${run.cost.tuning.candidates} candidate merges, ${run.cost.tuning.forwardPasses} of ` +
        `those forward passes`,
    );
  // A Worker older than the estimate answers without it.
  if (run.cost.estimate) {
    const { estimate, evaluationMs, messages } = run.cost;
    lines.push(
      `  ${(evaluationMs / 1000).toFixed(1)} s of evaluation CPU, ${messages} queue messages; on Cloudflare ` +
        `about ${usd(estimate.usd)} at list prices of ${estimate.pricesRead}:`,
    );
    for (const l of estimate.lines)
      lines.push(
        `    ${l.item.padEnd(42)} ${formatQuantity(l.quantity).padStart(12)} ${l.unit.padEnd(10)} ` +
          `${usd(l.usd).padStart(11)}`,
      );
  }
  return lines.join("\n");
}

/**
 * An alloc run's result: the budget used, then per task its part (rank, dtype, bytes) or the base
 * model, and its few-shot loss.
 */
function partLines(run: RunStatus): string[] {
  const result = run.result!;
  const { maxBytes, bytes: used } = result.budget!;
  const lines = [
    `budget: ${used} of ${maxBytes} bytes (${((100 * used) / maxBytes).toFixed(1)}%), ` +
      `${result.clusters.filter((c) => c.part).length} of ${result.clusters.length} tasks with a part`,
  ];
  lines.push(`  ${"task".padEnd(24)} ${"part".padEnd(14)} ${"bytes".padStart(8)}  few-shot loss`);
  for (const c of result.clusters) {
    const task = c.tasks[0];
    const part = c.part ? `rank ${c.part.rank} ${c.part.dtype}` : "base model";
    lines.push(
      `  ${task.padEnd(24)} ${part.padEnd(14)} ${String(c.bytes).padStart(8)}  ${result.taskLoss[task].toFixed(4)}`,
    );
  }
  return lines;
}

/** A tuned cluster's merge: method, weights, and the held-back evidence. */
export function describeTuned(t: TunedCluster): string {
  const method = `${t.merge.method}${t.merge.density === undefined ? "" : ` density ${t.merge.density}`}`;
  const scale = t.weights[0] / unitWeight(t.merge.method, t.weights.length);
  const weights = t.weightsKept
    ? `tuned weights ${t.weights.map((w) => w.toFixed(3)).join(" ")}`
    : `uniform weights x ${Number(scale.toFixed(3))}`;
  return (
    `tuned: ${method}, ${weights} (held-back loss ${t.heldBackScreened.toFixed(4)} screened, ` +
    `${t.heldBackTuned.toFixed(4)} with CMA-ES's weights; ${t.candidates} candidates)`
  );
}

function usd(n: number): string {
  return n >= 0.01 ? `$${n.toFixed(2)}` : `$${n.toPrecision(2)}`;
}

function formatQuantity(n: number): string {
  return Number.isInteger(n) ? n.toLocaleString("en-US") : n.toPrecision(3);
}

function bytes(n: number): string {
  return n >= 1 << 20 ? `${(n / (1 << 20)).toFixed(1)} MiB` : n >= 1 << 10 ? `${(n / 1024).toFixed(1)} KiB` : `${n} B`;
}
