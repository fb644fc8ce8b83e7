/**
 * The names a base model answers to: its id and its aliases (the hub names adapters cite as
 * `base_model_name_or_path`). Hub names are case-insensitive (`Org/Model` and `org/model` are one
 * repository), so names compare case-folded; each folded name belongs to one model.
 */
import type { ModelContract } from "../inference/contract";

const fold = (name: string) => name.toLowerCase();

/** A name another model (`owner`) already answers to, by its id or one of its aliases. */
export interface NameTaken {
  readonly name: string;
  readonly owner: string;
}

/** The first of `modelId` and `aliases` that a model other than `modelId` answers to; null if none. */
export function nameTaken(
  models: readonly ModelContract[],
  modelId: string,
  aliases: readonly string[],
): NameTaken | null {
  const others = models.filter((m) => m.modelId !== modelId);
  for (const name of [modelId, ...aliases]) {
    const owner = resolveName(others, name);
    if (owner) return { name, owner: owner.modelId };
  }
  return null;
}

/** The model a name cites: by id, else by alias, case-insensitively. */
export function resolveName(models: readonly ModelContract[], name: string): ModelContract | null {
  const key = fold(name);
  return (
    models.find((m) => fold(m.modelId) === key) ?? models.find((m) => m.aliases?.some((a) => fold(a) === key)) ?? null
  );
}
