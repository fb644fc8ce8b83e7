/**
 * model.json derived for a plain decoder: what the graph surgery read from the graph (targets,
 * vocabulary, maximum sequence) and what the Hugging Face tokenizer files say (special tokens),
 * so a team can register the ONNX it exported without writing a contract by hand.
 */
import { DomainError } from "../errors";
import type { ModelContract } from "../inference/contract";
import type { SurgeryResult } from "./surgery";

export interface Registration {
  readonly modelId: string;
  readonly aliases?: readonly string[];
  readonly evaluator?: "wasm" | "remote";
  /** Used where the graph does not tell it (no position table or RoPE cache of fixed length). */
  readonly maxSequence?: number;
}

type TokenizerJson = {
  added_tokens?: { id: number; content: string }[];
  model?: { vocab?: Record<string, number> | [string, number][] };
};
type TokenizerConfig = Record<string, unknown>;

/** A special token's id: tokenizer_config.json names it (a string or `{ content }`), tokenizer.json numbers it. */
function tokenId(config: TokenizerConfig, tokenizer: TokenizerJson, field: string): number | null {
  const named = config[field];
  const content = typeof named === "string" ? named : (named as { content?: unknown } | null)?.content;
  if (typeof content !== "string") return null;
  const added = tokenizer.added_tokens?.find((t) => t.content === content);
  if (added) return added.id;
  const vocab = tokenizer.model?.vocab;
  if (Array.isArray(vocab)) {
    const i = vocab.findIndex(([piece]) => piece === content);
    return i < 0 ? null : i;
  }
  return vocab?.[content] ?? null;
}

export function deriveContract(
  registration: Registration,
  surgery: Pick<SurgeryResult, "targets" | "vocabSize" | "maxSequence">,
  onnx: ModelContract["onnx"],
  tokenizer: TokenizerJson,
  tokenizerConfig: TokenizerConfig,
): ModelContract {
  const id = (field: string) => tokenId(tokenizerConfig, tokenizer, field);
  const eos = id("eos_token");
  if (eos === null)
    throw new DomainError(
      "invalid",
      "bad_tokenizer",
      "tokenizer_config.json: eos_token is missing or not a token of tokenizer.json",
    );
  // Decoders without a start token (Qwen) begin sequences with eos; without a pad token, eos pads (masked anyway).
  const tokens = { bos: id("bos_token") ?? eos, eos, pad: id("pad_token") ?? eos };
  const vocabSize = surgery.vocabSize;
  if (vocabSize === null)
    throw new DomainError(
      "invalid",
      "bad_onnx",
      "model.onnx: no logits output or embedding table gives the vocabulary size",
    );
  const fromTokenizer = Number(tokenizerConfig.model_max_length);
  const maxSequence =
    registration.maxSequence ??
    surgery.maxSequence ??
    (Number.isInteger(fromTokenizer) && fromTokenizer <= 1 << 20 ? fromTokenizer : null);
  if (maxSequence === null) {
    throw new DomainError(
      "invalid",
      "no_max_sequence",
      "the graph does not fix the maximum sequence and tokenizer_config.json has no model_max_length: give maxSequence",
    );
  }
  return {
    contractVersion: 1,
    modelId: registration.modelId,
    maxSequence,
    vocabSize,
    tokens,
    loraTargets: surgery.targets,
    onnx,
    tokenizer: "tokenizer.json",
    ...(registration.aliases?.length ? { aliases: [...registration.aliases] } : {}),
    ...(registration.evaluator ? { evaluator: registration.evaluator } : {}),
  };
}
