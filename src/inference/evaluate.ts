/**
 * Few-shot loss and held-out exact match of one adapter on one task's examples.
 * The few-shot loss is D2C's signal: mean completion NLL over the task's examples.
 */
import type { AdapterFactors } from "../adapters/factors";
import type { Example } from "../storage/examples";
import { scoreBatch } from "./loss";
import { batchOf, forward, type LoadedModel } from "./forward";

export interface Evaluation {
  /** Mean over examples of each example's mean completion NLL (nats per token). */
  readonly loss: number;
  /** Fraction of examples that greedy decoding reproduces exactly. */
  readonly exactMatch: number;
  readonly examples: number;
  /** Completion tokens scored, `</s>` included. */
  readonly tokens: number;
  /** Forward passes this evaluation ran (one per batch of MAX_BATCH examples). */
  readonly forwardPasses: number;
  /**
   * Each example's mean completion NLL, in the split's order: merge tuning scores held-back folds of them
   * (src/tuning/folds.ts).
   */
  readonly exampleLosses: number[];
  readonly ms: number;
}

/** Rows per forward pass: 10 few-shot examples are one pass; 100 held-out ones are four. */
export const MAX_BATCH = 32;

export async function evaluate(
  model: LoadedModel,
  examples: readonly Example[],
  adapter: AdapterFactors | null,
): Promise<Evaluation> {
  if (examples.length === 0) throw new RangeError("no examples to evaluate");
  const started = Date.now();
  let loss = 0;
  let exact = 0;
  let tokens = 0;
  let passes = 0;
  const exampleLosses: number[] = [];
  for (let from = 0; from < examples.length; from += MAX_BATCH) {
    const batch = batchOf(model, examples.slice(from, from + MAX_BATCH));
    const logits = await forward(model, batch, adapter);
    passes++;
    const scores = scoreBatch(batch, logits, model.contract.vocabSize);
    for (const s of scores) {
      exampleLosses.push(s.nll);
      loss += s.nll;
      exact += s.exact ? 1 : 0;
      tokens += s.tokens;
    }
  }
  return {
    loss: loss / examples.length,
    exactMatch: exact / examples.length,
    examples: examples.length,
    tokens,
    forwardPasses: passes,
    exampleLosses,
    ms: Date.now() - started,
  };
}
