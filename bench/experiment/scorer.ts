/**
 * Merges and scores with memory: a cluster (its member set under the experiment's merge) is
 * merged once, and each (cluster, task, split) is evaluated once across every method, K and
 * seed, the offline twin of the Catalogue's merge and loss caches.
 */
import { mergeAdapters, type MergeSettings } from "../../src/adapters/merge/index.ts";
import type { AdapterFactors } from "../../src/adapters/factors.ts";
import type { Batch } from "../../src/inference/batch.ts";
import { forward } from "../../src/inference/forward.ts";
import { scoreBatch } from "../../src/inference/loss.ts";
import type { World } from "./world.ts";

export interface Score {
  readonly loss: number;
  readonly exactMatch: number;
}

export class Scorer {
  private merged = new Map<string, AdapterFactors | null>();
  private scores = new Map<string, Score>();
  /** Forward passes actually run, and evaluations answered from memory. */
  forwardPasses = 0;
  evaluations = 0;
  cacheHits = 0;

  constructor(private world: World, private merge: MergeSettings) {}

  /** A cluster's name: its sorted member indices ("" is the base model, no adapter). */
  static cluster(members: readonly number[]): string {
    return [...members].sort((a, b) => a - b).join(",");
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
    if (!this.merged.has(cluster)) {
      const members = cluster === "" ? [] : cluster.split(",").map(Number);
      const adapters = members.map((t) => this.world.tasks[t].adapter);
      this.merged.set(cluster, members.length === 0 ? null : mergeAdapters(adapters, this.world.model.contract.loraTargets, {
        ...this.merge, weights: members.map(() => 1 / members.length),
      }));
    }
    return this.merged.get(cluster)!;
  }

  async score(cluster: string, task: number, split: "fewshot" | "test"): Promise<Score> {
    const key = `${cluster}|${task}|${split}`;
    this.evaluations++;
    const known = this.scores.get(key);
    if (known) {
      this.cacheHits++;
      return known;
    }
    const batches: readonly Batch[] = this.world.tasks[task][split];
    let loss = 0;
    let exact = 0;
    let rows = 0;
    for (const batch of batches) {
      const logits = await forward(this.world.model, batch, this.adapter(cluster));
      this.forwardPasses++;
      for (const s of scoreBatch(batch, logits, this.world.model.contract.vocabSize)) {
        loss += s.nll;
        exact += s.exact ? 1 : 0;
        rows++;
      }
    }
    const score = { loss: loss / rows, exactMatch: exact / rows };
    this.scores.set(key, score);
    return score;
  }
}
