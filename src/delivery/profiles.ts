/**
 * Device profiles and how a device finds its own: every rule a profile states must hold for the
 * device's traits; among matching profiles the most specific (most rules) wins, then the lowest
 * id. A profile with no rules matches every device, so it is the default.
 */
import { z } from "zod";
import { MAX_RANK } from "../adapters/peft";
import { NEED_NAME } from "./needs";
import { ADAPTER_FORMATS, SHIPPED_DTYPES, adapterFormat } from "./formats";

/**
 * Bounds of the match rules: every device's manifest request checks every profile's rules, so a
 * rule list is a cost on the unauthenticated path. 64 entries of at most 64 characters cover a
 * SoC family or a device line (names like "SM8650", "Tensor G4", "SM-S928B").
 */
export const MATCH_RULE_ENTRIES = 64;
export const MATCH_RULE_CHARS = 64;
/** RAM rules in MB: 1 TB is beyond any phone. */
export const MAX_RAM_MB = 1 << 20;
/**
 * Per-device task sets a profile keeps, by default and at most. A need is a few languages x
 * apps and a fleet has few common ones; each costs a few merged adapters in R2 and a D2C run per
 * catalogue change, so the bound is the cost an operator signs up for.
 */
export const DEFAULT_SUBSETS = 32;
export const MAX_SUBSETS = 256;
export const DEFAULT_QUORUM = 2;
/** Networks counted per need (durable-objects/subsetIndex.ts counts no more), so no quorum above it. */
export const DEMAND_CAP = 64;
/** Named task sets per profile, and tasks per set: they ride on every device request's read of the profiles. */
export const TASK_SETS = 64;
export const TASK_SET_TASKS = 64;

const ruleList = z.array(z.string().min(1).max(MATCH_RULE_CHARS)).min(1).max(MATCH_RULE_ENTRIES);

export const ProfileSchema = z
  .object({
    modelId: z.string().min(1).max(64),
    /** What a device of this profile can hold: a count of merged adapters, a byte budget, or both. */
    budget: z
      .object({
        maxAdapters: z.number().int().min(1).optional(),
        maxBytes: z.number().int().min(1).optional(),
      })
      .strict()
      .refine((b) => b.maxAdapters !== undefined || b.maxBytes !== undefined, "give maxAdapters or maxBytes"),
    /** Precision of the formats whose dtype is the profile's (./formats.ts: .onnx_adapter files stay fp32). */
    dtype: z.enum(SHIPPED_DTYPES).default("fp16"),
    /**
     * Blob formats shipped, from the format registry (./formats.ts, GET /v1/capabilities); the first
     * is the one the routing table points at. A format marked `alone` (parts) is a release of its own.
     */
    formats: z
      .array(z.enum(ADAPTER_FORMATS))
      .min(1)
      .default([ADAPTER_FORMATS[0]])
      .refine((f) => new Set(f).size === f.length, "formats must not repeat")
      .superRefine((f, ctx) => {
        const alone = f.find((name) => adapterFormat(name).alone);
        if (alone !== undefined && f.length > 1) {
          const message = `${alone} is a release of its own: give formats ["${alone}"] alone`;
          ctx.addIssue({ code: "custom", message });
        }
      }),
    /** Rank of the merged adapters (svd merge); default 8. */
    rank: z.number().int().min(1).max(MAX_RANK).default(8),
    match: z
      .object({
        minRamMb: z.number().int().min(0).max(MAX_RAM_MB).optional(),
        maxRamMb: z.number().int().min(0).max(MAX_RAM_MB).optional(),
        socs: ruleList.optional(),
        models: ruleList.optional(),
        os: ruleList.optional(),
      })
      .strict()
      .default({}),
    /**
     * Devices' stated needs (decision 0010) this profile keeps built at most; past it a need asked
     * for by more networks takes the place of the published one asked for by fewest. Named task sets
     * do not count. 0: devices' needs and task sets are ignored, every device gets the profile-wide release.
     */
    maxSubsets: z.number().int().min(0).max(MAX_SUBSETS).default(DEFAULT_SUBSETS),
    /**
     * Distinct networks (IPv4 addresses or IPv6 /64s) that must ask for a stated need before it is
     * built: one device cannot make the profile build for it alone. 1 builds on the first request
     * (a fleet behind one network, a demo on loopback).
     */
    subsetQuorum: z.number().int().min(1).max(DEMAND_CAP).default(DEFAULT_QUORUM),
    /**
     * Named task sets a device may ask for instead of languages and apps (`taskSet=<name>` on
     * GET /v1/manifest), e.g. `{ "keyboard": ["gec-de", "reply-de"] }`; each is a need like any other.
     */
    taskSets: z
      .record(
        z.string().regex(NEED_NAME, "a task set name is letters, digits, - and _ (at most 32)"),
        z.array(z.string().min(1).max(64)).min(1).max(TASK_SET_TASKS),
      )
      .refine((sets) => Object.keys(sets).length <= TASK_SETS, `at most ${TASK_SETS} task sets`)
      .default({}),
    /** Re-cluster from the cron trigger when the catalogue changes. */
    autoRecluster: z.boolean().default(false),
  })
  .strict()
  .superRefine((p, ctx) => {
    // A format that counts bytes only (parts: its release has no merged adapters to count) takes that budget alone.
    for (const name of p.formats) {
      const { budgets } = adapterFormat(name);
      const stated = (["maxAdapters", "maxBytes"] as const).filter((b) => p.budget[b] !== undefined);
      if (stated.every((b) => (budgets as readonly string[]).includes(b))) continue;
      const message = `a ${name} profile's budget is ${budgets.join(" or ")} alone (what its release is counted in)`;
      ctx.addIssue({ code: "custom", message, path: ["budget"] });
    }
  });

export type Profile = z.infer<typeof ProfileSchema>;

export interface StoredProfile extends Profile {
  readonly id: string;
  /** Increases with every change of this profile. */
  readonly version: number;
  readonly updatedAt: string;
}

export interface DeviceTraits {
  readonly ramMb?: number;
  readonly soc?: string;
  readonly model?: string;
  readonly os?: string;
}

/** Whether the profile's devices hold parts (an "alloc" run's release), not merged adapters. */
export const shipsParts = (profile: Pick<Profile, "formats">) =>
  profile.formats.some((name) => adapterFormat(name).source === "parts");

const lower = (s: string) => s.toLowerCase();

/** The number of rules the profile states, or -1 when one of them fails for these traits. */
function specificity(profile: Pick<Profile, "match">, traits: DeviceTraits): number {
  const m = profile.match;
  let rules = 0;
  const check = (stated: boolean, holds: () => boolean) => {
    if (!stated) return true;
    rules++;
    return holds();
  };
  const ok =
    check(m.minRamMb !== undefined, () => traits.ramMb !== undefined && traits.ramMb >= m.minRamMb!) &&
    check(m.maxRamMb !== undefined, () => traits.ramMb !== undefined && traits.ramMb <= m.maxRamMb!) &&
    check(m.socs !== undefined, () => traits.soc !== undefined && m.socs!.map(lower).includes(lower(traits.soc))) &&
    check(
      m.models !== undefined,
      () => traits.model !== undefined && m.models!.map(lower).includes(lower(traits.model)),
    ) &&
    check(m.os !== undefined, () => traits.os !== undefined && m.os!.map(lower).includes(lower(traits.os)));
  return ok ? rules : -1;
}

export function resolveProfile<P extends Pick<StoredProfile, "id" | "match">>(
  profiles: readonly P[],
  traits: DeviceTraits,
): P | null {
  let best: P | null = null;
  let bestRules = -1;
  for (const p of [...profiles].sort((a, b) => (a.id < b.id ? -1 : 1))) {
    const rules = specificity(p, traits);
    if (rules > bestRules) {
      best = p;
      bestRules = rules;
    }
  }
  return best;
}

/** The subset limits a profile sets, with the defaults for a read model published before a field existed. */
export function subsetLimits(profile: { readonly maxSubsets?: number; readonly subsetQuorum?: number }): {
  maxSubsets: number;
  quorum: number;
} {
  return { maxSubsets: profile.maxSubsets ?? DEFAULT_SUBSETS, quorum: profile.subsetQuorum ?? DEFAULT_QUORUM };
}
