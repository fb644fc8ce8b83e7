/** The README.md a scale world carries: how it was made, from what, and what it does not model. */

export interface ReadmeFacts {
  readonly n: number;
  readonly seed: number;
  readonly from: string;
  readonly test: number;
  readonly mixMax: number;
  readonly noise: number;
  readonly noiseRank: number;
  readonly modelId: string;
  readonly sources: number;
  readonly poolSizes: readonly number[];
}

export function worldReadme(f: ReadmeFacts): string {
  const minPool = Math.min(...f.poolSizes);
  return (
    `# Scale world: ${f.n} synthetic tasks (seed ${f.seed})

Generated, not trained, and not committed. Written by

    npm run world -- --n ${f.n} --seed ${f.seed} --out <this directory> --from ${f.from} --test ${f.test} --mix-max ` +
    `${f.mixMax} --noise ${f.noise} --noise-rank ${f.noiseRank}

The same command gives the same bytes. The layout is r2-fixtures' (without \`golden/\`, \`variants/\` and
\`models/${f.modelId}/plain/\`), so it can be seeded (\`npm run seed -- --dir <dir>\`), pushed
(\`npx d2c-edge push <dir>\`) and run through the experiment (\`npm run experiment -- --fixtures <dir>\`).

| key | what |
|---|---|
| \`catalogue.json\` | the ${f.n} tasks: id, modelId, application, language |
| \`models/${f.modelId}/\` | model.onnx, model.json, tokenizer.json, tokenizer_config.json, copied from ${f.from} |
| \`adapters/{taskId}/\` | PEFT LoRA, r=8, lora_alpha=8 (scaling 1), q/k/v/o of every layer, fp16, ` +
    `base_model_name_or_path ${f.modelId} |
| \`examples/{taskId}/fewshot.jsonl\`, \`test.jsonl\` | 10 few-shot and ${f.test} held-out examples, disjoint |
| \`world.json\` | the settings, and per task its source, sibling, sibling kind and mix weight w |

## Derivation

Task i (id \`<source>-<i>\`, e.g. \`gec-de-0123\`) takes source task s = the (i mod ${f.sources})-th task of
${f.from}/catalogue.json, and its application and language. From a seeded stream of its own (mulberry32,
\`src/prng.ts\`, seeded by a hash of the world seed and i, so a task does not depend on N):

1. a sibling x: with probability 1/2 a task of the same application (another language), else one of the
   same language (another application), uniformly;
2. a mix weight w uniform in [0, ${f.mixMax}];
3. per LoRA target, a Gaussian perturbation P = B_p A_p of rank ${f.noiseRank}, scaled so that
   ||P||_F = ${f.noise} ||B_s A_s||_F;
4. the adapter: delta W = (1 - w) B_s A_s + w B_x A_x + P, re-factored to rank 8 by the repo's svd merge
   (\`mergeAdapters\`, method \`svd\`: exact low-rank sum, truncated SVD), written with \`toPeft\` in fp16;
5. the examples: the source's few-shot and held-out files pooled (${minPool} distinct examples or more per
   source), shuffled, the first 10 few-shot, the next ${f.test} held-out. A task needing more than its
   source's pool is refused, not padded: \`--test\` is at most the pool minus 10 (100 for r2-fixtures).

## Realism limits

- **Only ${f.sources} behaviours.** A task's examples are its source's: every task derived from gec-de
  is asked to do gec-de. The world has ${f.sources} distinct example distributions, however large N is;
  the N adapters are ${f.sources} tight clumps, each pulled a little toward a neighbour.
- **Adapters are not trained on their examples.** The adapter is the source's moved by up to
  ${Math.round(f.mixMax * 100)}% toward a sibling, plus noise, then truncated to rank 8: it fits its
  examples somewhat worse than the source's own adapter, and no task has an adapter better suited to it
  than its source's. A real catalogue's tasks each have their own optimum.
- **Examples are shared across tasks of one source.** Each task has its own disjoint few-shot / held-out
  split, but of the same ${minPool} examples: one task's held-out example is another's few-shot example.
  Held-out scores of tasks of one source are not independent.
- **Interpolation, not new skills.** delta W stays in the span of two trained adapters plus a small random
  part: clustering structure (application vs language) is inherited from the ${f.sources} trained tasks,
  not discovered. The perturbation is isotropic Gaussian, unlike a real fine-tune's update.
- **One small base model** (${f.modelId}), one tokenizer, rank 8 everywhere.
`
  );
}
