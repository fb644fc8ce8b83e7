import type { LoraTarget } from "../adapters/peft";
import type { SpecialTokens } from "./batch";

/** `models/<modelId>/model.json`: what a base model promises (see DESIGN.md, model contract). */
export interface ModelContract {
  readonly contractVersion: 1;
  readonly modelId: string;
  readonly maxSequence: number;
  readonly vocabSize: number;
  readonly tokens: SpecialTokens;
  readonly loraTargets: readonly LoraTarget[];
  readonly onnx: { readonly file: string; readonly sha256: string };
  readonly tokenizer: string;
  /** llama.cpp's name for the architecture (a GGUF's `general.architecture`), e.g. "llama"; older contracts lack it. */
  readonly architecture?: string;
  /** The base model's hyperparameters as tools/fixtures writes them; typed here only as far as the GGUF export reads them. */
  readonly config?: { readonly n_heads?: number; readonly n_kv_heads?: number };
}

export interface Example {
  readonly prompt: string;
  readonly completion: string;
}

/** One `{"prompt", "completion"}` object per line; throws naming the first bad line. */
export function parseExamples(jsonl: string): Example[] {
  const examples: Example[] = [];
  jsonl.split("\n").forEach((line, i) => {
    if (line.trim() === "") return;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch {
      throw new SyntaxError(`line ${i + 1}: not valid JSON`);
    }
    const e = value as Partial<Example>;
    if (typeof e !== "object" || e === null || typeof e.prompt !== "string" || typeof e.completion !== "string") {
      throw new SyntaxError(`line ${i + 1}: expected {"prompt": string, "completion": string}`);
    }
    examples.push({ prompt: e.prompt, completion: e.completion });
  });
  return examples;
}
