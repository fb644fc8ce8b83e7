/**
 * Greedy decoding, one forward pass per generated token. Evaluation does not need it (one
 * teacher-forced pass decides exact match); the console and the agreement test do.
 */
import type { AdapterFactors } from "../adapters/factors";
import { forward, type LoadedModel } from "./forward";

export async function generate(model: LoadedModel, prompt: string, adapter: AdapterFactors | null): Promise<string> {
  const { bos, eos } = model.contract.tokens;
  const vocab = model.contract.vocabSize;
  const ids = [bos, ...model.tokenizer.encode(prompt, { add_special_tokens: false }).ids];
  const generated: number[] = [];
  while (ids.length < model.contract.maxSequence) {
    const inputIds = BigInt64Array.from(ids, BigInt);
    const batch = {
      size: 1,
      width: ids.length,
      inputIds,
      attentionMask: new BigInt64Array(ids.length).fill(1n),
      scored: [],
      targets: new Int32Array(ids.length),
    };
    const logits = await forward(model, batch, adapter);
    const last = logits.subarray((ids.length - 1) * vocab, ids.length * vocab);
    let next = 0;
    for (let v = 1; v < vocab; v++) if (last[v] > last[next]) next = v;
    if (next === eos) break;
    ids.push(next);
    generated.push(next);
  }
  return model.tokenizer.decode(generated, { skip_special_tokens: true });
}
