/**
 * A batch of (prompt, completion) examples as model inputs: `<s> prompt completion </s>`,
 * right-padded. Position j predicts token j+1; the completion's tokens and `</s>` are scored.
 */

export interface SpecialTokens {
  readonly bos: number;
  readonly eos: number;
  readonly pad: number;
}

export interface ExampleTokens {
  readonly prompt: readonly number[];
  readonly completion: readonly number[];
}

export interface Batch {
  readonly size: number;
  readonly width: number;
  /** [size * width] token ids, row-major. */
  readonly inputIds: BigInt64Array;
  readonly attentionMask: BigInt64Array;
  /** Per row: the first and one-past-last *predicting* positions of the completion. */
  readonly scored: ReadonlyArray<readonly [number, number]>;
  /** [size * width] the token each predicting position should produce (pad elsewhere). */
  readonly targets: Int32Array;
}

export function buildBatch(examples: readonly ExampleTokens[], special: SpecialTokens, maxSequence: number): Batch {
  const rows = examples.map((e) => [special.bos, ...e.prompt, ...e.completion, special.eos]);
  const width = Math.max(...rows.map((r) => r.length));
  if (width > maxSequence) throw new RangeError(`an example is ${width} tokens, the model's maximum is ${maxSequence}`);
  const size = rows.length;
  const inputIds = new BigInt64Array(size * width).fill(BigInt(special.pad));
  const attentionMask = new BigInt64Array(size * width);
  const targets = new Int32Array(size * width).fill(special.pad);
  const scored: Array<[number, number]> = [];
  rows.forEach((row, i) => {
    row.forEach((id, j) => {
      inputIds[i * width + j] = BigInt(id);
      attentionMask[i * width + j] = 1n;
      if (j > 0) targets[i * width + j - 1] = id;
    });
    // The last prompt token (incl. <s>) predicts the first completion token.
    scored.push([examples[i].prompt.length, row.length - 1]);
  });
  return { size, width, inputIds, attentionMask, scored, targets };
}
