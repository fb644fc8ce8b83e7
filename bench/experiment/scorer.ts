/**
 * Merges and scores with memory: a cluster (its member set under the experiment's merge) is
 * merged once, and each (cluster, task, split) is evaluated once across every method, K and
 * seed, the offline twin of the Catalogue's merge and loss caches. A tuned cluster (its own
 * method and weights, `Scorer.tuned`) is named by its members and merge options.
 */
import { mergeAdapters, type MergeOptions, type MergeSettings } from "../../src/adapters/merge/index.ts";
import type { AdapterFactors } from "../../src/adapters/factors.ts";
import type { Batch } from "../../src/inference/batch.ts";
import { forward } from "../../src/inference/forward.ts";
import { scoreBatch } from "../../src/inference/loss.ts";
import type { World } from "./world.ts";

export interface Score {
  readonly loss: number;
  readonly exactMatch: number;
  /** Per-example NLL in example order: a held-back fold's loss is the mean over its examples. */
  readonly losses: readonly number[];
}

/**
 * The forward passes one run would cost from an empty cache: each distinct (cluster, task,
 * split) it asks for counts its batches once, whether or not the shared cache answered it.
 */
export class Meter {
  private seen = new Set<string>();
  forwardPasses = 0;

  count(key: string, batches: number): void {
    if (this.seen.has(key)) return;
    this.seen.add(key);
    this.forwardPasses += batches;
  }
}

export class Scorer {
  private merged = new Map<string, AdapterFactors | null>();
  private scores = new Map<string, Score>();
  /** Tuned merges are many and each scored for a few tasks in a row: only the last one is kept. */
  private lastTuned: { name: string; adapter: AdapterFactors } | null = null;
  /** Forward passes actually run, and evaluations answered from memory. */
  forwardPasses = 0;
  evaluations = 0;
  cacheHits = 0;

  constructor(
    private world: World,
    private merge: MergeSettings,
  ) {}

  /** A cluster's name: its sorted member indices ("" is the base model, no adapter). */
  static cluster(members: readonly number[]): string {
    return [...members].sort((a, b) => a - b).join(",");
  }

  /** A tuned cluster's name: sorted members (weights in the same order), `#`, the merge options as JSON. */
  static tuned(members: readonly number[], options: MergeOptions): string {
    if (members.some((m, i) => i > 0 && m <= members[i - 1]))
      throw new RangeError(`tuned members must be sorted and distinct: ${members.join(",")}`);
    return `${members.join(",")}#${JSON.stringify(options)}`;
  }

  /**
   * A scorer over the same world sharing this one's merges (pure; merging runs no forward pass),
   * its scores copied when `warm`, else none: one run's forward passes counted against a given
   * loss cache, without that run warming this scorer.
   */
  fork(warm: boolean): Scorer {
    const copy = new Scorer(this.world, this.merge);
    copy.merged = this.merged;
    if (warm) copy.scores = new Map(this.scores);
    return copy;
  }

  private adapter(cluster: string): AdapterFactors | null {
    const hash = cluster.indexOf("#");
    if (hash >= 0) {
      if (this.lastTuned?.name !== cluster) {
        const adapters = cluster
          .slice(0, hash)
          .split(",")
          .map((t) => this.world.tasks[Number(t)].adapter);
        const options = JSON.parse(cluster.slice(hash + 1)) as MergeOptions;
        this.lastTuned = {
          name: cluster,
          adapter: mergeAdapters(adapters, this.world.model.contract.loraTargets, options),
        };
      }
      return this.lastTuned.adapter;
    }
    if (!this.merged.has(cluster)) {
      const members = cluster === "" ? [] : cluster.split(",").map(Number);
      const adapters = members.map((t) => this.world.tasks[t].adapter);
      this.merged.set(
        cluster,
        members.length === 0
          ? null
          : mergeAdapters(adapters, this.world.model.contract.loraTargets, {
              ...this.merge,
              weights: members.map(() => 1 / members.length),
            }),
      );
    }
    return this.merged.get(cluster)!;
  }

  async score(cluster: string, task: number, split: "fewshot" | "test", meter?: Meter): Promise<Score> {
    const key = `${cluster}|${task}|${split}`;
    const batches: readonly Batch[] = this.world.tasks[task][split];
    meter?.count(key, batches.length);
    this.evaluations++;
    const known = this.scores.get(key);
    if (known) {
      this.cacheHits++;
      return known;
    }
    const losses: number[] = [];
    let exact = 0;
    for (const batch of batches) {
      const logits = await forward(this.world.model, batch, this.adapter(cluster));
      this.forwardPasses++;
      for (const s of scoreBatch(batch, logits, this.world.model.contract.vocabSize)) {
        losses.push(s.nll);
        exact += s.exact ? 1 : 0;
      }
    }
    const score = {
      loss: losses.reduce((a, b) => a + b, 0) / losses.length,
      exactMatch: exact / losses.length,
      losses,
    };
    this.scores.set(key, score);
    return score;
  }
}
