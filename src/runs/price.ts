/**
 * What a run would cost on Cloudflare (Workers Paid), at list prices beyond the plan's monthly
 * allowances (the first runs of a month are inside them and cost nothing extra). Every price is a
 * named constant with its source, read 2026-12-01 through the project's search tool (docs corpus).
 * The usage side is measured where the run measures it (evaluation ms, queue sends) and
 * estimated, per unit and per iteration, where Cloudflare meters what the run does not count.
 */

/**
 * Workers CPU time, USD per million CPU-ms. https://developers.cloudflare.com/workers/platform/pricing/ (Workers Paid:
 * 30 M included, "+$0.02 per additional million CPU milliseconds").
 */
export const WORKERS_CPU_USD_PER_MILLION_MS = 0.02;
/**
 * Queues, USD per million operations (each 64 KB written, read or deleted is one).
 * https://developers.cloudflare.com/queues/platform/pricing/ ($0.40 per million beyond 1 M/month).
 */
export const QUEUE_USD_PER_MILLION_OPERATIONS = 0.4;
/** Operations per delivered message under 64 KB: one write, one read, one delete (same page). */
export const QUEUE_OPERATIONS_PER_MESSAGE = 3;
/**
 * Durable Object requests (RPC calls, alarms), USD per million.
 * https://developers.cloudflare.com/durable-objects/platform/pricing/ ("1 million, + $0.15/million").
 */
export const DO_USD_PER_MILLION_REQUESTS = 0.15;
/**
 * SQLite-backed Durable Object rows written, USD per million (same page, SQL storage billing; the rates D1 also
 * charges).
 */
export const DO_USD_PER_MILLION_ROWS_WRITTEN = 1.0;
/** SQLite-backed Durable Object rows read, USD per million (same page). */
export const DO_USD_PER_MILLION_ROWS_READ = 0.001;
/** SQLite-backed Durable Object storage, USD per GB-month (same page). */
export const DO_USD_PER_GB_MONTH = 0.2;
/**
 * R2 Class A (writes), USD per million, Standard storage. https://developers.cloudflare.com/r2/pricing/ ("$4.50 /
 * million requests").
 */
export const R2_CLASS_A_USD_PER_MILLION = 4.5;
/** R2 Class B (reads), USD per million, Standard storage (same page, "$0.36 / million requests"). */
export const R2_CLASS_B_USD_PER_MILLION = 0.36;

/** What one run did, as the ClusterRun object counts it. */
export interface RunUsage {
  /** Units evaluated over the queue (not cache hits). */
  readonly evaluatedUnits: number;
  /** Queue messages the run sent (first sends and the watchdog's re-sends). */
  readonly messages: number;
  /** Sum of the units' evaluation milliseconds, as the evaluator measured them. */
  readonly evaluationMs: number;
  /** Multiply-adds of the task-similarity blocks computed on the queue (0 for a start computed in the run's object). */
  readonly similarityMultiplyAdds: number;
  readonly iterations: number;
  /** Merged adapters over all iterations (each at most one build; cached ones cost reads only). */
  readonly merges: number;
  /** Member adapters read to build them. */
  readonly mergeMembers: number;
  /** Rows in the run's units table (one per task x cluster evaluated or cached). */
  readonly unitRows: number;
  /** The run object's SQLite database, bytes. */
  readonly storedBytes: number;
}

export interface CostLine {
  readonly item: string;
  readonly quantity: number;
  readonly unit: string;
  readonly usd: number;
}

export interface CostEstimate {
  /** Sum of the lines, USD. */
  readonly usd: number;
  readonly lines: CostLine[];
  /** Prices as of this date (see src/runs/price.ts for each source). */
  readonly pricesRead: string;
}

export const PRICES_READ = "2026-12-01";

/**
 * CPU nanoseconds per multiply-add of the task-vector inner products (src/clustering/taskVectors.ts):
 * 5.2e9 multiply-adds in 15.8 s over the N = 200 scale world, one core of this machine, Node 24
 * (V8, as workerd); the Workers clock cannot time pure computation, so the count is priced.
 */
export const SIMILARITY_NS_PER_MULTIPLY_ADD = 3;

/** DO requests per delivered message: the consumer's claimUnits and reportUnits RPCs. */
const RPCS_PER_MESSAGE = 2;
/** Alarm invocations per iteration: init or reassign, merge, evaluate and its watchdog look. */
const ALARMS_PER_ITERATION = 4;
/** Rows a sent unit writes: its send mark, its claim, its loss and its iteration's counter. */
const ROWS_WRITTEN_PER_UNIT = 4;
/** Rows a sent unit reads: the unit on claim and report, its iteration counter, and its share of the run row. */
const ROWS_READ_PER_UNIT = 4;
/**
 * R2 reads, at most: a message's merged adapter once (its units share it) and each unit's example
 * set (the model is cached per isolate; so are adapters and examples, which this does not count).
 */
const R2_READS_PER_MESSAGE = 1;
const R2_READS_PER_UNIT = 1;
/** R2 writes per merge: the merged safetensors and its adapter_config.json. */
const R2_WRITES_PER_MERGE = 2;

const line = (item: string, quantity: number, unit: string, usdPerMillion: number): CostLine => ({
  item,
  quantity,
  unit,
  usd: (quantity * usdPerMillion) / 1e6,
});

/** The run's bill at list prices, line by line (storage: one month of the run's object). */
export function estimateCost(usage: RunUsage): CostEstimate {
  const lines = [
    line("Workers CPU time (evaluation)", Math.round(usage.evaluationMs), "CPU-ms", WORKERS_CPU_USD_PER_MILLION_MS),
    line(
      "Workers CPU time (task similarity, estimated)",
      Math.round((usage.similarityMultiplyAdds * SIMILARITY_NS_PER_MULTIPLY_ADD) / 1e6),
      "CPU-ms",
      WORKERS_CPU_USD_PER_MILLION_MS,
    ),
    line(
      "Queue operations",
      usage.messages * QUEUE_OPERATIONS_PER_MESSAGE,
      "operations",
      QUEUE_USD_PER_MILLION_OPERATIONS,
    ),
    line(
      "Durable Object requests",
      usage.messages * RPCS_PER_MESSAGE + usage.iterations * ALARMS_PER_ITERATION,
      "requests",
      DO_USD_PER_MILLION_REQUESTS,
    ),
    line(
      "Durable Object rows written",
      usage.unitRows + usage.evaluatedUnits * ROWS_WRITTEN_PER_UNIT,
      "rows",
      DO_USD_PER_MILLION_ROWS_WRITTEN,
    ),
    line(
      "Durable Object rows read",
      usage.unitRows + usage.evaluatedUnits * ROWS_READ_PER_UNIT,
      "rows",
      DO_USD_PER_MILLION_ROWS_READ,
    ),
    line("Durable Object storage (a month)", usage.storedBytes / 1e9, "GB-month", DO_USD_PER_GB_MONTH * 1e6),
    line(
      "R2 Class A (merged adapters written)",
      usage.merges * R2_WRITES_PER_MERGE,
      "requests",
      R2_CLASS_A_USD_PER_MILLION,
    ),
    line(
      "R2 Class B (adapters and examples read)",
      usage.messages * R2_READS_PER_MESSAGE + usage.evaluatedUnits * R2_READS_PER_UNIT + usage.mergeMembers,
      "requests",
      R2_CLASS_B_USD_PER_MILLION,
    ),
  ];
  return { usd: lines.reduce((s, l) => s + l.usd, 0), lines, pricesRead: PRICES_READ };
}
