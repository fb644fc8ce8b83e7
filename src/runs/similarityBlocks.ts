/**
 * The k-means start of a large run, computed on the queue. The task vectors' Gram matrix costs
 * N^2 r^2 (in + out) per module: at N = 1,000 reference adapters about 6 minutes of one core,
 * and the adapters' factors alone (130 MB) would not fit one isolate's 128 MB. So a run over
 * more than SIMILARITY_BLOCK tasks splits the upper triangle into blocks of at most
 * SIMILARITY_BLOCK x SIMILARITY_BLOCK tasks; a consumer reads the block's adapters (at most
 * 2 x SIMILARITY_BLOCK), computes its inner products (`gramBlock`) and reports them; the run
 * assembles the matrix, bit for bit the one `taskSimilarity` computes in one piece.
 */
import { nextTurn } from "../eventLoop";
import { cosineFromGram, gramBlock } from "../clustering/taskVectors";
import { loadTokenizer } from "../inference/model";
import type { AdapterFactors, LoraTarget } from "../adapters/factors";
import type { RunTask } from "./config";
import { readMemberAdapters } from "./merging";

/**
 * Tasks per side of a block. 50 x 50 reference adapters are ~2 s of CPU and 13 MB of factors,
 * inside a consumer's limits; runs of at most 50 tasks compute the matrix in their own object.
 */
export const SIMILARITY_BLOCK = 50;

/** A block: the Gram entries of tasks [rows[0], rows[1]) against [cols[0], cols[1]). */
export interface SimilarityBlock {
  /** `gram:<row block>:<col block>` */
  readonly id: string;
  readonly rows: readonly [number, number];
  readonly cols: readonly [number, number];
}

/** A queue message: one block of one run, with the adapters it reads pinned by digest. */
export interface SimilarityMessage {
  readonly kind: "similarity";
  readonly runId: string;
  readonly blockId: string;
  readonly modelId: string;
  readonly rows: readonly Pick<RunTask, "id" | "adapterSha256">[];
  readonly cols: readonly Pick<RunTask, "id" | "adapterSha256">[];
}

/** The blocks of the upper triangle (row block <= column block), or none when n fits one block. */
export function similarityBlocks(n: number, block = SIMILARITY_BLOCK): SimilarityBlock[] {
  if (n <= block) return [];
  const count = Math.ceil(n / block);
  const range = (b: number): [number, number] => [b * block, Math.min(n, (b + 1) * block)];
  const blocks: SimilarityBlock[] = [];
  for (let i = 0; i < count; i++)
    for (let j = i; j < count; j++) blocks.push({ id: `gram:${i}:${j}`, rows: range(i), cols: range(j) });
  return blocks;
}

/** The message of one block of a run over `tasks`. */
export function similarityMessage(
  runId: string,
  modelId: string,
  tasks: readonly RunTask[],
  block: SimilarityBlock,
): SimilarityMessage {
  const pin = (t: RunTask) => ({ id: t.id, adapterSha256: t.adapterSha256 });
  return {
    kind: "similarity",
    runId,
    blockId: block.id,
    modelId,
    rows: tasks.slice(...block.rows).map(pin),
    cols: tasks.slice(...block.cols).map(pin),
  };
}

/**
 * The consumer's side: the block's inner products, row-major, and the multiply-adds they took
 * (what the cost estimate prices: the Workers clock does not advance during pure computation).
 * An unusable adapter is a DomainError naming its task.
 */
export async function computeBlock(
  bucket: R2Bucket,
  message: SimilarityMessage,
): Promise<{ dots: Float64Array; multiplyAdds: number }> {
  const { contract } = await loadTokenizer(bucket, message.modelId);
  const targets = contract.loraTargets;
  const diagonal =
    message.rows.length === message.cols.length && message.rows.every((t, i) => t.id === message.cols[i].id);
  const rows = await readMemberAdapters(bucket, targets, message.rows);
  const cols = diagonal ? rows : await readMemberAdapters(bucket, targets, message.cols);
  return {
    dots: await gramInSlices(rows, cols, targets, diagonal),
    multiplyAdds: gramWork(rows, cols, targets, diagonal),
  };
}

/** Rows of a block computed between two yields: a few hundred ms at most of the reference model's. */
const ROWS_PER_SLICE = 5;

/**
 * `gramBlock`'s numbers, the same sums in the same order, computed a slice of rows and one module
 * at a time with a yield between: a block is 2-10 s of CPU, and the API's requests share the isolate.
 */
export async function gramInSlices(
  rows: readonly AdapterFactors[],
  cols: readonly AdapterFactors[],
  targets: readonly LoraTarget[],
  diagonal: boolean,
): Promise<Float64Array> {
  const m = cols.length;
  const gram = new Float64Array(rows.length * m);
  for (const target of targets) {
    for (let a = 0; a < rows.length; a += ROWS_PER_SLICE) {
      const b = Math.min(rows.length, a + ROWS_PER_SLICE);
      const from = diagonal ? a : 0;
      const slice = gramBlock(rows.slice(a, b), cols.slice(from), [target]);
      for (let i = a; i < b; i++) {
        for (let j = diagonal ? i : 0; j < m; j++) {
          const dot = slice[(i - a) * (m - from) + (j - from)];
          gram[i * m + j] += dot;
          if (diagonal && i !== j) gram[j * m + i] += dot;
        }
      }
      await nextTurn();
    }
  }
  return gram;
}

/** Multiply-adds of `gramBlock` over these adapters: r1 r2 (in + out) per module and pair. */
function gramWork(
  rows: readonly AdapterFactors[],
  cols: readonly AdapterFactors[],
  targets: readonly LoraTarget[],
  diagonal: boolean,
): number {
  let work = 0;
  for (const target of targets) {
    const ranks = (adapters: readonly AdapterFactors[]) => adapters.map((a) => a.get(target.module)!.rank);
    const [x, y] = [ranks(rows), ranks(cols)];
    const sum = (r: number[]) => r.reduce((s, v) => s + v, 0);
    // Diagonal blocks compute the upper triangle with the diagonal: (sum^2 + sum of squares) / 2.
    const pairs = diagonal ? (sum(x) ** 2 + x.reduce((s, v) => s + v * v, 0)) / 2 : sum(x) * sum(y);
    work += pairs * (target.in + target.out);
  }
  return work;
}

/** The cosine matrix from every block's inner products (`dots(block)`, row-major as computed). */
export function assembleSimilarity(
  n: number,
  blocks: readonly SimilarityBlock[],
  dots: (block: SimilarityBlock) => Float64Array,
): Float64Array {
  const gram = new Float64Array(n * n);
  for (const block of blocks) {
    const values = dots(block);
    const [r0, r1] = block.rows;
    const [c0, c1] = block.cols;
    const width = c1 - c0;
    if (values.length !== (r1 - r0) * width)
      throw new RangeError(`block ${block.id} has ${values.length} values, not ${(r1 - r0) * width}`);
    for (let i = r0; i < r1; i++) {
      for (let j = c0; j < c1; j++) {
        const v = values[(i - r0) * width + (j - c0)];
        gram[i * n + j] = v;
        gram[j * n + i] = v;
      }
    }
  }
  return cosineFromGram(gram, n);
}
