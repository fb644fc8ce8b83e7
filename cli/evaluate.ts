/** `d2c-edge evaluate <task>`: one task's examples under one adapter, evaluated by the Worker (POST /v1/evaluate). */
import type { RunStatus } from "../src/runs/status.ts";
import type { Api } from "./api.ts";
import { definedOnly, integer, printJson, text, type Command } from "./command.ts";
import { CliError, UsageError } from "./errors.ts";

interface Evaluation {
  readonly loss: number;
  readonly exactMatch?: number;
  readonly examples: number;
  readonly tokens: number;
  readonly forwardPasses: number;
  readonly ms: number;
  readonly partBytes?: number;
}

export const evaluate: Command = {
  name: "evaluate",
  usage: "<task> [--adapter A | --run RUN] [--split fewshot|test] [--part-rank N --part-dtype D] [--json]",
  summary: "Evaluate a task's examples under an adapter on the Worker: mean loss, and exact match on the test split.",
  help: `The adapter, one of (default: the task's own adapter):
  --adapter A      a task id (that task's adapter), a merged adapter's sha256, or none (the base model)
  --run RUN        what that finished run ships for the task: its cluster's merged adapter (an alloc
                   run: the task's own adapter as its chosen part, or the base model)
Options:
  --split S        fewshot (default) or test; exact match is reported on test only
  --part-rank N    with a task's adapter: evaluate it truncated to rank N and stored as a private part
  --part-dtype D   the part's dtype (with --part-rank; d2c-edge capabilities lists the parts format's)
  --json           print POST /v1/evaluate's answer as JSON`,
  options: {
    adapter: { type: "string" },
    run: { type: "string" },
    split: { type: "string" },
    "part-rank": { type: "string" },
    "part-dtype": { type: "string" },
  },
  positionals: ["task"],
  async run({ values, positionals: [task], api }) {
    const given = text(values, "adapter");
    const runId = text(values, "run");
    if (given !== undefined && runId !== undefined) throw new UsageError("give --adapter or --run, not both");
    let rank = integer(values, "part-rank", 1);
    let dtype = text(values, "part-dtype");
    if ((rank === undefined) !== (dtype === undefined))
      throw new UsageError("--part-rank and --part-dtype go together");
    let adapter = given ?? task;
    if (runId !== undefined) {
      if (rank !== undefined) throw new UsageError("--run chooses the part itself: no --part-rank with it");
      const shipped = await shippedAdapter(api, runId, task);
      adapter = shipped.adapter;
      ({ rank, dtype } = shipped.part ?? {});
    }
    const split = text(values, "split");
    const body = definedOnly({ task, adapter, split, part: rank === undefined ? undefined : { rank, dtype } });
    const result = await api.json<Evaluation>("POST", "/v1/evaluate", { json: body });
    if (values.json) {
      printJson(result);
      return 0;
    }
    const part = result.partBytes === undefined ? "" : ` as a rank ${rank} ${dtype} part (${result.partBytes} B)`;
    const exact = result.exactMatch === undefined ? "" : `exact match ${(100 * result.exactMatch).toFixed(1)}%, `;
    console.log(
      `${task} under ${adapter === "none" ? "the base model" : `adapter ${adapter}`}${part}, ${split ?? "fewshot"} ` +
        `split: ${exact}loss ${result.loss.toFixed(4)} over ${result.examples} examples ` +
        `(${result.tokens} tokens, ${result.forwardPasses} forward pass${result.forwardPasses === 1 ? "" : "es"}, ` +
        `${result.ms} ms)`,
    );
    return 0;
  },
};

/**
 * What run `runId` ships for `task`: its cluster's merged adapter, or (an alloc run) the task's own
 * adapter as the private part chosen for it, or the base model where none was.
 */
async function shippedAdapter(
  api: Api,
  runId: string,
  task: string,
): Promise<{ adapter: string; part?: { rank: number; dtype: string } }> {
  const run = await api.json<RunStatus>("GET", `/v1/runs/${encodeURIComponent(runId)}`);
  if (!run.result) throw new CliError(`${runId} is ${run.state}: it has no merged adapters to evaluate yet`);
  const cluster = run.result.clusters.find((c) => c.tasks.includes(task));
  if (!cluster) throw new CliError(`${task} is not one of ${runId}'s tasks`);
  if (cluster.part === undefined) return { adapter: cluster.sha256 };
  return cluster.part === null ? { adapter: "none" } : { adapter: task, part: cluster.part };
}
