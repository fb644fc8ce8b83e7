/**
 * A run pins each task's adapter and few-shot digests when it starts; a release built from it is
 * only true to the catalogue if those are still the catalogue's. Compared by the run at each
 * phase and again at publish time, so a task deleted or replaced never reaches a device.
 */
import type { RunTask } from "./config";
import type { TaskRecord } from "../catalogue/task";

export interface ChangedTask {
  readonly id: string;
  readonly change: "deleted" | "adapter replaced" | "few-shot examples replaced";
}

/** `only`: compare just these task ids (the ones changed since a version), `catalogue` holding their records. */
export function changedTasks(
  pinned: readonly RunTask[],
  catalogue: readonly TaskRecord[],
  only?: ReadonlySet<string>,
): ChangedTask[] {
  const now = new Map(catalogue.map((t) => [t.id, t]));
  const changed: ChangedTask[] = [];
  for (const task of pinned) {
    if (only && !only.has(task.id)) continue;
    const current = now.get(task.id);
    if (!current) changed.push({ id: task.id, change: "deleted" });
    else if (current.adapterSha256 !== task.adapterSha256) changed.push({ id: task.id, change: "adapter replaced" });
    else if (current.examplesSha256.fewshot !== task.fewshotSha256)
      changed.push({ id: task.id, change: "few-shot examples replaced" });
  }
  return changed;
}
