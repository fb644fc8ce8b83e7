/**
 * `d2c-edge apply -f d2c.yaml`: makes the server's profiles and runs what a file says, as kubectl
 * applies manifests: a profile equal to the server's is not PUT, a run already current is not started
 * (cli/applyRuns.ts has the rule), and only what changed is printed.
 */
import type { TaskRecord } from "../src/catalogue/task.ts";
import type { Profile, StoredProfile } from "../src/delivery/profiles.ts";
import type { RunSummary } from "../src/runs/config.ts";
import type { RunStatus } from "../src/runs/status.ts";
import type { Api } from "./api.ts";
import type { ApplyConfig, RunEntry } from "./applyConfig.ts";
import { printJson, text, type Command } from "./command.ts";
import { CliError, UsageError } from "./errors.ts";
import { matchTasks } from "./taskPatterns.ts";

/** The server's schemas and the YAML parser, loaded when apply runs: every other command starts without them. */
const load = async () => ({
  ...(await import("./applyConfig.ts")),
  ...(await import("./applyRuns.ts")),
  ...(await import("./profileDiff.ts")),
});

interface ProfileOutcome {
  readonly id: string;
  readonly action: "created" | "changed" | "unchanged";
  readonly changes: string[];
  /** The PUT's answer, or the stored profile when nothing was sent. */
  readonly profile: StoredProfile | Profile;
}

interface RunOutcome {
  readonly profile: string;
  readonly action: "started" | "current";
  readonly reason?: string;
  /** POST /v1/runs's answer, or the newest run's id when it is current (or on a dry run, the request). */
  readonly run: unknown;
}

export const apply: Command = {
  name: "apply",
  usage: "-f FILE [--dry-run] [--json]",
  summary: "Create or update profiles and start runs from a YAML file; print what changed, nothing when nothing did.",
  help: `The file (example: cli/d2c.yaml):
  profiles:            device profiles by id, each as PUT /v1/profiles/:id takes it (modelId may be left
    phones:            out when the catalogue has one model)
      budget: { maxAdapters: 5 }
      formats: [peft, onnx_adapter]
  runs:                runs as POST /v1/runs takes them, each with its profile (one run per profile;
    - profile: phones  K is the profile's budget, so no k or budget; no cache, prune or parts either)
      tasks: ["gec-*", "qa-*"]  ids or globs (* and ?; quoted: YAML reads a leading * as an alias),
      restarts: 1       matched against GET /v1/tasks; default every task of the model with few-shot examples
The file is checked whole (by the server's schemas, task patterns against the catalogue) before any
request that changes something; an error names the line and the field.

A profile is PUT only when it differs from the stored one (the server's defaults filled in).
A run is started unless the newest run recorded for its profile (the last 100 runs) is current:
it did not fail and was not cancelled, it started after the profile's last change and at the
catalogue's current version, and it has the entry's tasks, method, seed, maxIterations, restarts,
restartCriterion, merge method and tune (left out: the server's defaults), and modelId, evaluator,
merge rank and density where the entry gives them. A second apply of the same file changes nothing.

Options:
  -f, --file FILE  the YAML file (required)
  --dry-run        say what would change; send only GETs
  --json           print { profiles, runs }: each one's action and the server's answer`,
  options: { file: { type: "string", short: "f" }, "dry-run": { type: "boolean" } },
  positionals: [],
  async run({ values, api }) {
    const file = text(values, "file");
    if (!file) throw new UsageError("-f FILE is required");
    const dryRun = values["dry-run"] === true;
    const json = values.json === true;
    const { readApplyConfig, whyStart, profileChanges, storedForm } = await load();
    const config = await readApplyConfig(file);
    const say = (line: string) => {
      if (!json) console.log(line);
    };
    const catalogue = await api.json<{ tasks: TaskRecord[]; catalogueVersion: number }>("GET", "/v1/tasks");
    const stored = (await api.json<{ profiles: StoredProfile[] }>("GET", "/v1/profiles")).profiles;
    const plan = planProfiles(config, stored, catalogue.tasks, (before, body, refused) => {
      const wanted = storedForm(body, refused);
      return { wanted, changes: profileChanges(before, wanted) };
    });
    // Every run's patterns and profile are checked before the first write.
    const runTasks = config.runs.map((entry) => tasksOf(entry, plan, stored, catalogue.tasks));

    const profiles: ProfileOutcome[] = [];
    const current = new Map(stored.map((p) => [p.id, p]));
    for (const { id, body, wanted, changes, before } of plan) {
      if (before && changes.length === 0) {
        profiles.push({ id, action: "unchanged", changes, profile: before });
        continue;
      }
      const action = before ? "changed" : "created";
      const answer = dryRun ? wanted : await api.json<StoredProfile>("PUT", `/v1/profiles/${id}`, { json: body });
      if (!dryRun) current.set(id, answer as StoredProfile);
      profiles.push({ id, action, changes, profile: answer });
      const version = dryRun ? "" : `, version ${(answer as StoredProfile).version}`;
      say(`profile ${id}: ${dryRun ? `would be ${action}` : action}${version}${changes.length && before ? ":" : ""}`);
      if (before) for (const change of changes) say(`  ${change}`);
    }

    const runs: RunOutcome[] = [];
    for (const [i, entry] of config.runs.entries()) {
      const tasks = runTasks[i];
      const changing = dryRun && profiles.some((p) => p.id === entry.profile && p.action !== "unchanged");
      const newest = await newestRun(api, entry.profile);
      const reason = whyStart(entry, {
        newest,
        profileUpdatedAt: changing ? null : current.get(entry.profile)!.updatedAt,
        catalogueVersion: catalogue.catalogueVersion,
        tasks,
      });
      if (reason === null) {
        runs.push({ profile: entry.profile, action: "current", run: { runId: newest!.runId } });
        continue;
      }
      const request = { ...entry.stated, ...(entry.patterns ? { tasks } : {}) };
      if (dryRun) {
        runs.push({ profile: entry.profile, action: "started", reason, run: request });
        say(`run for ${entry.profile}: would start (${reason})`);
        continue;
      }
      const started = await api.json<{ runId: string; k: number; tasks: number }>("POST", "/v1/runs", {
        json: request,
      });
      runs.push({ profile: entry.profile, action: "started", reason, run: started });
      say(`run for ${entry.profile}: started ${started.runId}, K=${started.k} over ${started.tasks} tasks (${reason})`);
    }
    if (json) printJson({ ...(dryRun ? { dryRun } : {}), profiles, runs });
    return 0;
  },
};

interface PlannedProfile {
  readonly id: string;
  readonly body: Record<string, unknown>;
  readonly wanted: Profile;
  readonly before: StoredProfile | undefined;
  readonly changes: string[];
}

/** How a body compares with the stored profile (cli/profileDiff.ts, passed in as it is loaded late). */
type Compare = (
  before: StoredProfile | undefined,
  body: Record<string, unknown>,
  refused: (field: string, message: string) => Error,
) => { wanted: Profile; changes: string[] };

function planProfiles(
  config: ApplyConfig,
  stored: StoredProfile[],
  tasks: TaskRecord[],
  compare: Compare,
): PlannedProfile[] {
  const models = [...new Set(tasks.map((t) => t.modelId))].sort();
  return config.profiles.map(({ id, body }) => {
    if (body.modelId === undefined && models.length !== 1)
      throw new UsageError(
        `profiles.${id}.modelId is required: the catalogue's tasks are for ` +
          `${models.length ? `models ${models.join(", ")}` : "no model yet"}`,
      );
    const full = { modelId: models[0], ...body };
    const before = stored.find((p) => p.id === id);
    const refused = (field: string, message: string) => new UsageError(`profiles.${id}.${field}: ${message}`);
    return { id, body: full, before, ...compare(before, full, refused) };
  });
}

/** The entry's task ids: its patterns matched among its profile's model's tasks, else what the server would take. */
function tasksOf(entry: RunEntry, plan: PlannedProfile[], stored: StoredProfile[], all: TaskRecord[]): string[] {
  const modelId =
    plan.find((p) => p.id === entry.profile)?.wanted.modelId ?? stored.find((p) => p.id === entry.profile)?.modelId;
  if (modelId === undefined)
    throw new CliError(`${entry.where}.profile: no profile ${entry.profile} in the file or on the server`);
  const ofModel = all.filter((t) => t.modelId === modelId);
  if (entry.patterns) return matchTasks(entry.patterns, ofModel, `${entry.where}.tasks`);
  // As POST /v1/runs chooses without tasks (src/runs/start.ts): few-shot examples with a digest.
  return ofModel
    .filter((t) => t.examples.fewshot > 0 && t.examplesSha256.fewshot)
    .map((t) => t.id)
    .sort();
}

async function newestRun(api: Api, profile: string): Promise<RunStatus | null> {
  const { runs } = await api.json<{ runs: RunSummary[] }>("GET", "/v1/runs");
  const newest = runs.find((r) => r.profile === profile);
  return newest ? api.json<RunStatus>("GET", `/v1/runs/${newest.runId}`) : null;
}
