/**
 * One cluster's merge tuning (issue 15) as a resumable state machine: the same procedure
 * wherever the merges are evaluated (the Worker fans each batch out over the Queue and keeps the
 * state in its Durable Object between rounds; the experiment evaluates in process).
 *   1. screen: every merge setting at uniform weights, judged on all few-shot examples (nothing
 *      is fitted, so nothing to hold back); the lowest objective wins, the first of equals;
 *   2. weights: per held-back fold, CMA-ES tunes the member weights on the other folds' examples
 *      (the folds' optimisers run side by side, one batch per generation);
 *   3. held: each fold's solution (or uniform, where CMA-ES found nothing better on its training
 *      examples) is judged on that fold's held-back examples against uniform weights; the tuned
 *      weights are kept only if they win on the mean over folds, and are then the mean of the
 *      folds' solutions (log coordinates). The held-out split is never part of this.
 * Every candidate is named by a key; answers are per member, per example few-shot losses.
 */
import type { MergeOptions, MergeSettings } from "../adapters/merge";
import { askCmaes, cmaesFinished, createCmaes, tellCmaes, type CmaesState } from "./cmaes";
import { clusterObjective, exampleFolds, subsetLoss, trainingExamples } from "./folds";
import { mergeWeights } from "./weights";

export interface TunerSettings {
  /** CMA-ES candidate evaluations per fold (each costs one few-shot pass per member). */
  readonly budget: number;
  /** Held-back folds of each member's few-shot examples. */
  readonly folds: number;
  /** Weight of the worst member's loss in the objective (0: the members' mean). */
  readonly penalty: number;
  /** CMA-ES initial step, in log-weight units. */
  readonly sigma0: number;
  /** Merge settings screened at uniform weights; the first is the untuned merge. */
  readonly methods: readonly MergeSettings[];
  readonly seed: number;
}

/** A merge to evaluate: every member's few-shot examples under it. */
export interface TuneCandidate {
  readonly key: string;
  readonly merge: MergeOptions;
}

/** Per member (in member order), the loss of each few-shot example. */
export type MemberLosses = readonly (readonly number[])[];

export interface TunerState {
  readonly stage: "screen" | "weights" | "held" | "done";
  /** Fold seeds come from these (the members' task indices in the run), so a task's folds do not depend on its cluster. */
  readonly memberSeeds: readonly number[];
  readonly exampleCounts: readonly number[];
  readonly settings: TunerSettings;
  /** Losses answered and still needed, by candidate key (a told generation's are dropped). */
  readonly answers: Readonly<Record<string, MemberLosses>>;
  /** Candidates answered in all. */
  readonly evaluated: number;
  /** Index into settings.methods, once screened. */
  readonly method: number | null;
  readonly folds: readonly CmaesState[];
  /** Each fold's solution, once its optimiser is done. */
  readonly solutions: readonly (readonly number[])[] | null;
  readonly result: TunedMerge | null;
}

export interface TunedMerge {
  /** The merge to ship: method, density, rank and seed, weights in member order. */
  readonly merge: MergeOptions;
  /** Mean over folds of the objective on held-back examples: uniform and tuned weights under the chosen method. */
  readonly heldBackUniform: number;
  readonly heldBackTuned: number;
  readonly weightsKept: boolean;
  /** Distinct merges evaluated. */
  readonly candidates: number;
}

/** `memberSeeds`: one integer per member (its task index); `exampleCounts`: its few-shot examples. */
export function startTuner(settings: TunerSettings, memberSeeds: readonly number[], exampleCounts: readonly number[]): TunerState {
  if (memberSeeds.length < 2) throw new RangeError("a cluster of one task has nothing to tune");
  if (settings.methods.length === 0) throw new RangeError("methods: give at least the untuned merge");
  return { stage: "screen", memberSeeds, exampleCounts, settings, answers: {}, evaluated: 0, method: null, folds: [], solutions: null, result: null };
}

/** What must be evaluated before the tuner can go on: the candidates of its current batch not answered yet (none when done). */
export function pendingCandidates(state: TunerState): TuneCandidate[] {
  return batch(state).filter((c) => !(c.key in state.answers));
}

/**
 * Records answers (each candidate's per-member losses), then advances through every stage whose
 * batch is complete. Answers for keys not asked are ignored; repeated ones change nothing.
 */
export function answerTuner(state: TunerState, answers: Readonly<Record<string, MemberLosses>>): TunerState {
  const asked = new Set(pendingCandidates(state).map((c) => c.key));
  const fresh = Object.entries(answers).filter(([k]) => asked.has(k));
  let next: TunerState = { ...state, answers: { ...state.answers, ...Object.fromEntries(fresh) }, evaluated: state.evaluated + fresh.length };
  while (next.stage !== "done" && pendingCandidates(next).length === 0) next = advance(next);
  return next;
}

const uniformX = (state: TunerState) => state.memberSeeds.map(() => 0);
const screenKey = (m: number) => `screen:${m}`;
const weightsKey = (fold: number, generation: number, i: number) => `fold${fold}:g${generation}:${i}`;
const heldKey = (fold: number) => `held:${fold}`;
const merge = (state: TunerState, method: number, x: readonly number[]): MergeOptions => ({ ...state.settings.methods[method], weights: mergeWeights(x) });

function batch(state: TunerState): TuneCandidate[] {
  switch (state.stage) {
    case "screen":
      return state.settings.methods.map((_, m) => ({ key: screenKey(m), merge: merge(state, m, uniformX(state)) }));
    case "weights":
      return state.folds.flatMap((fold, f) => fold.pending.map((x, i) => ({ key: weightsKey(f, fold.generation, i), merge: merge(state, state.method!, x) })));
    case "held":
      return state.solutions!.map((x, f) => ({ key: heldKey(f), merge: merge(state, state.method!, x) }));
    case "done":
      return [];
  }
}

function folds(state: TunerState): number[][][] {
  return state.exampleCounts.map((count, i) => exampleFolds(count, state.settings.folds, (state.settings.seed + state.memberSeeds[i]) >>> 0));
}

function objective(state: TunerState, losses: MemberLosses, examples: (member: number) => readonly number[]): number {
  return clusterObjective(losses.map((l, i) => subsetLoss(l, examples(i))), state.settings.penalty);
}

const all = (state: TunerState) => (member: number) => [...Array(state.exampleCounts[member]).keys()];

function advance(state: TunerState): TunerState {
  const { settings } = state;
  const perMember = folds(state);
  switch (state.stage) {
    case "screen": {
      const scores = settings.methods.map((_, m) => objective(state, state.answers[screenKey(m)], all(state)));
      const method = scores.indexOf(Math.min(...scores));
      if (settings.budget <= 0) return done(state, method, uniformX(state), scores[method], scores[method], false);
      const optimisers = Array.from({ length: settings.folds }, (_, f) => askCmaes(createCmaes({
        x0: uniformX(state), sigma0: settings.sigma0, budget: settings.budget, seed: (settings.seed * 31 + f) >>> 0,
      })).state);
      return { ...state, stage: "weights", method, folds: optimisers };
    }
    case "weights": {
      const told = state.folds.map((fold, f) => {
        const train = (i: number) => trainingExamples(perMember[i], f);
        const fitness = fold.pending.map((_, i) => objective(state, state.answers[weightsKey(f, fold.generation, i)], train));
        const next = tellCmaes(fold, fitness);
        return cmaesFinished(next) ? next : askCmaes(next).state;
      });
      // A told generation's losses are spent: only the screen's stay (uniform weights are the reference below).
      const answers = Object.fromEntries(Object.entries(state.answers).filter(([k]) => k.startsWith("screen:")));
      if (!told.every(cmaesFinished)) return { ...state, answers, folds: told };
      const uniform = state.answers[screenKey(state.method!)];
      // The start point competes too: CMA-ES never evaluates x0 itself.
      const solutions = told.map((fold, f) =>
        fold.best!.f < objective(state, uniform, (i) => trainingExamples(perMember[i], f)) ? fold.best!.x : uniformX(state));
      return { ...state, stage: "held", answers, folds: told, solutions };
    }
    case "held": {
      const uniform = state.answers[screenKey(state.method!)];
      const n = settings.folds;
      let heldUniform = 0;
      let heldTuned = 0;
      for (let f = 0; f < n; f++) {
        heldUniform += objective(state, uniform, (i) => perMember[i][f]) / n;
        heldTuned += objective(state, state.answers[heldKey(f)], (i) => perMember[i][f]) / n;
      }
      const kept = heldTuned < heldUniform;
      const x = kept ? uniformX(state).map((_, d) => state.solutions!.reduce((s, sol) => s + sol[d], 0) / n) : uniformX(state);
      return done(state, state.method!, x, heldUniform, heldTuned, kept);
    }
    case "done":
      return state;
  }
}

function done(state: TunerState, method: number, x: readonly number[], heldBackUniform: number, heldBackTuned: number, weightsKept: boolean): TunerState {
  const result: TunedMerge = {
    merge: merge(state, method, x), heldBackUniform, heldBackTuned, weightsKept, candidates: state.evaluated,
  };
  return { ...state, stage: "done", method, result };
}
