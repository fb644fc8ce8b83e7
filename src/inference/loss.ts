import type { Batch } from "./batch";

export interface ExampleScore {
  /** Mean negative log-likelihood of the completion tokens and `</s>`, in nats. */
  readonly nll: number;
  readonly tokens: number;
  /**
   * Greedy decoding reproduces the completion exactly iff, under teacher forcing, the argmax
   * at every scored position equals the target: one forward pass decides exact match.
   */
  readonly exact: boolean;
}

/** Scores every row of a batch from the model's logits [size, width, vocab]. */
export function scoreBatch(batch: Batch, logits: Float32Array, vocab: number): ExampleScore[] {
  if (logits.length !== batch.size * batch.width * vocab) {
    throw new RangeError(`logits hold ${logits.length} values, expected ${batch.size}x${batch.width}x${vocab}`);
  }
  return batch.scored.map(([from, to], row) => {
    let sum = 0;
    let exact = true;
    for (let pos = from; pos < to; pos++) {
      const at = (row * batch.width + pos) * vocab;
      const target = batch.targets[row * batch.width + pos];
      let max = -Infinity;
      let argmax = 0;
      for (let v = 0; v < vocab; v++) {
        if (logits[at + v] > max) {
          max = logits[at + v];
          argmax = v;
        }
      }
      let exps = 0;
      for (let v = 0; v < vocab; v++) exps += Math.exp(logits[at + v] - max);
      sum += max + Math.log(exps) - logits[at + target];
      if (argmax !== target) exact = false;
    }
    return { nll: sum / (to - from), tokens: to - from, exact };
  });
}
