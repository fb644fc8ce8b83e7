/** Which blob serves each task on this device: the routed adapter, in the best format it prefers. */
import type { AdapterFormat, Manifest, ManifestAdapter } from "../../src/delivery/manifest";

/**
 * Task -> the manifest entry to install. Routing names each task's adapter in the profile's first
 * format; the same merged adapter in another format is the entry serving the same task set.
 * Throws when a task cannot be served in any of `formats`.
 */
export function selectAdapters(manifest: Manifest, formats: readonly AdapterFormat[]): Map<string, ManifestAdapter> {
  const bySha = new Map(manifest.adapters.map((adapter) => [adapter.sha256, adapter]));
  const selected = new Map<string, ManifestAdapter>();
  for (const [taskId, sha256] of Object.entries(manifest.routing)) {
    const routed = bySha.get(sha256);
    if (!routed) throw new Error(`routing sends task "${taskId}" to ${sha256}, which the manifest does not list`);
    const variants = manifest.adapters.filter((adapter) => sameTasks(adapter.tasks, routed.tasks));
    const chosen = formats
      .map((format) => variants.find((adapter) => adapter.format === format))
      .find((adapter) => adapter !== undefined);
    if (!chosen)
      throw new Error(
        `task "${taskId}": no adapter in formats ${formats.join(", ")} (offered: ` +
          `${variants.map((a) => a.format).join(", ")})`,
      );
    selected.set(taskId, chosen);
  }
  return selected;
}

function sameTasks(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  const set = new Set(a);
  return b.every((task) => set.has(task));
}
