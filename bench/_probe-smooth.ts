import { writeFileSync } from "node:fs";
import { loadWorld } from "./experiment/world.ts";
import { decodePart, encodePart } from "../src/adapters/parts/partFile.ts";
import { materialise, privatePart, privatePartBytes } from "../src/adapters/parts/privatePart.ts";
import { DEFAULT_PART_CONFIGS } from "../src/budget/candidates.ts";
import { forward } from "../src/inference/forward.ts";
import { scoreBatch } from "../src/inference/loss.ts";
const dir = process.argv[2];
const world = await loadWorld(dir, 1);
const targets = world.model.contract.loraTargets;
async function score(batches: any[], adapter: any) {
  let exact = 0, n = 0, loss = 0;
  for (const b of batches) for (const s of scoreBatch(b, await forward(world.model, b, adapter), world.model.contract.vocabSize)) { exact += s.exact ? 1 : 0; loss += s.nll; n++; }
  return { exact, n, loss: loss / n };
}
const configs = [null, ...DEFAULT_PART_CONFIGS];
const rows: any[] = [];
for (const c of configs) {
  const row = [];
  for (const t of world.tasks) {
    let adapter = null, bytes = 0;
    if (c) { const f = encodePart(privatePart(t.id, t.adapter, targets, c.rank, c.dtype), targets); bytes = f.byteLength; adapter = materialise(decodePart(f, targets), targets); }
    row.push({ bytes, fewshot: await score(t.fewshot, adapter), test: await score(t.test, adapter) });
  }
  rows.push(row);
  console.log(c ? `${c.rank}/${c.dtype}` : "none");
}
writeFileSync(process.argv[3], JSON.stringify({ configs, rows, ownBytes: world.tasks.length * privatePartBytes(targets, 8, "fp16") }));
