/** Device profile commands: `profile` creates or replaces one (PUT /v1/profiles/:id), `profiles` lists them. */
import type { StoredProfile } from "../src/delivery/profiles.ts";
import { HttpError, type Api } from "./api.ts";
import { capabilitiesOf, checkedFormats } from "./capabilities.ts";
import { definedOnly, integer, list, listing, printJson, text, type Command } from "./command.ts";
import { UsageError } from "./errors.ts";

/** One line: id, version, model, budget, what it ships, and which devices it matches. */
export const describe = (p: StoredProfile) => {
  const budget = [
    p.budget.maxAdapters && `${p.budget.maxAdapters} adapters`,
    p.budget.maxBytes && `${p.budget.maxBytes} B`,
  ]
    .filter(Boolean)
    .join(" and ");
  const m = p.match;
  const rules = [
    m.minRamMb !== undefined && `ram >= ${m.minRamMb} MB`,
    m.maxRamMb !== undefined && `ram <= ${m.maxRamMb} MB`,
    m.socs && `soc ${m.socs.join("|")}`,
    m.models && `model ${m.models.join("|")}`,
    m.os && `os ${m.os.join("|")}`,
  ].filter(Boolean);
  return (
    `${p.id} version ${p.version}: model ${p.modelId}, budget ${budget}, ${p.dtype}, formats ` +
    `${p.formats.join(",")}, rank ${p.rank}, ` +
    `match ${rules.length ? rules.join(", ") : "every device (the default profile)"}` +
    `${p.autoRecluster ? ", auto re-cluster" : ""}` +
    `${Object.keys(p.taskSets ?? {}).length ? `, task sets ${Object.keys(p.taskSets).join(",")}` : ""}`
  );
};

export const profile: Command = {
  name: "profile",
  usage: "<profileId> (--max-adapters N | --max-bytes N) [options] [--dry-run] [--json]",
  summary: "Create or replace a device profile (PUT /v1/profiles/:id) and print it; each change bumps its version.",
  help: `The whole profile is replaced: an option left out takes its default.

Budget, one or both:
  --max-adapters N   at most N merged adapters on the device
  --max-bytes N      at most N bytes of adapters
Options:
  --model M          base model (default: the catalogue's only model, if it has exactly one)
  --dtype D          fp16 (default) or fp32, the precision of shipped PEFT adapters
  --formats a,b      release formats, the first the one routing points at (default: the Worker's);
                     d2c-edge capabilities lists them, their dtypes and budgets; one that ships
                     alone (parts) is built by an alloc run (d2c-edge run --method alloc --profile P)
  --rank N           rank of the merged adapters (default 8)
  --auto             re-cluster from the cron trigger when the catalogue changes
  --max-subsets N    devices' stated needs kept built (default 32; 0: devices' needs are ignored)
  --subset-quorum N  distinct networks that must ask for a need before it is built (default 2; 1: the first request)
  --task-set name=a,b  a task set devices may ask for by name (taskSet=name); repeatable
  --dry-run          say what the PUT would change, field by field (from GET /v1/profiles), send nothing
  --json             print the stored profile as JSON
Match (every rule given must hold for a device; none: the profile matches every device):
  --min-ram-mb N, --max-ram-mb N
  --socs a,b  --models a,b  --os a,b   (case-insensitive)`,
  options: {
    model: { type: "string" },
    "max-adapters": { type: "string" },
    "max-bytes": { type: "string" },
    dtype: { type: "string" },
    formats: { type: "string" },
    rank: { type: "string" },
    "min-ram-mb": { type: "string" },
    "max-ram-mb": { type: "string" },
    socs: { type: "string" },
    models: { type: "string" },
    os: { type: "string" },
    auto: { type: "boolean" },
    json: { type: "boolean" },
    "max-subsets": { type: "string" },
    "subset-quorum": { type: "string" },
    "task-set": { type: "string", multiple: true },
    "dry-run": { type: "boolean" },
  },
  positionals: ["profileId"],
  async run({ values, positionals: [id], api }) {
    const budget = definedOnly({
      maxAdapters: integer(values, "max-adapters", 1),
      maxBytes: integer(values, "max-bytes", 1),
    });
    if (Object.keys(budget).length === 0)
      throw new UsageError("a budget is required: --max-adapters N or --max-bytes N");
    const body = definedOnly({
      modelId: text(values, "model") ?? (await onlyModel(api)),
      budget,
      dtype: text(values, "dtype"),
      formats: await formatsOption(api, list(values, "formats")),
      rank: integer(values, "rank", 1),
      match: definedOnly({
        minRamMb: integer(values, "min-ram-mb"),
        maxRamMb: integer(values, "max-ram-mb"),
        socs: list(values, "socs"),
        models: list(values, "models"),
        os: list(values, "os"),
      }),
      maxSubsets: integer(values, "max-subsets"),
      subsetQuorum: integer(values, "subset-quorum", 1),
      taskSets: taskSets(values["task-set"]),
      autoRecluster: values.auto === true ? true : undefined,
    });
    if (values["dry-run"]) return dryPut(api, id, body, values.json === true);
    const stored = await api.json<StoredProfile>("PUT", `/v1/profiles/${id}`, { json: body });
    console.log(values.json ? JSON.stringify(stored, null, 2) : describe(stored));
    return 0;
  },
};

/** What `PUT /v1/profiles/:id` with `body` would change, from GETs only. */
async function dryPut(api: Api, id: string, body: Record<string, unknown>, json: boolean): Promise<number> {
  // The server's profile schema, loaded only for a dry run: other commands start without it.
  const { dryRunRefusal, profileChanges, storedForm } = await import("./profileDiff.ts");
  const wanted = storedForm(body, dryRunRefusal);
  await api.send("GET", `/v1/models/${encodeURIComponent(wanted.modelId)}`).catch((e: unknown) => {
    if (e instanceof HttpError && e.status === 404) throw dryRunRefusal("modelId", `no model ${wanted.modelId}`);
    throw e;
  });
  const stored = (await api.json<{ profiles: StoredProfile[] }>("GET", "/v1/profiles")).profiles.find(
    (p) => p.id === id,
  );
  const changes = profileChanges(stored, wanted);
  if (json) {
    printJson({ dryRun: true, profileId: id, current: stored ?? null, wouldStore: wanted, changes });
    return 0;
  }
  if (!stored) {
    const created = { ...wanted, id, version: 1, updatedAt: "" };
    console.log(`would create ${describe(created)}; nothing was sent`);
  } else if (changes.length === 0) {
    console.log(`${id} version ${stored.version} is already so: a PUT would only bump its version; nothing was sent`);
  } else {
    console.log(`would change ${id} (version ${stored.version} -> ${stored.version + 1}); nothing was sent:`);
    for (const change of changes) console.log(`  ${change}`);
  }
  return 0;
}

/** `--formats`, checked against the formats the Worker ships (GET /v1/capabilities) before the PUT. */
async function formatsOption(api: Api, formats: string[] | undefined): Promise<readonly string[] | undefined> {
  return formats === undefined ? undefined : checkedFormats(await capabilitiesOf(api), formats);
}

/** `--task-set name=a,b` options as the profile's taskSets, or undefined when none is given. */
function taskSets(given: unknown): Record<string, string[]> | undefined {
  if (!Array.isArray(given) || given.length === 0) return undefined;
  return Object.fromEntries(
    given.map((option: string) => {
      const [name, tasks] = option.split("=", 2);
      if (!name || !tasks) throw new UsageError(`--task-set must be name=task,task, got ${JSON.stringify(option)}`);
      return [
        name.trim(),
        tasks
          .split(",")
          .map((t) => t.trim())
          .filter(Boolean),
      ];
    }),
  );
}

/** The model every task of the catalogue is for, when there is exactly one. */
async function onlyModel(api: Api): Promise<string> {
  const { tasks } = await api.json<{ tasks: { modelId: string }[] }>("GET", "/v1/tasks");
  const models = [...new Set(tasks.map((t) => t.modelId))].sort();
  if (models.length === 1) return models[0];
  throw new UsageError(
    `--model is required: the catalogue's tasks are for ` +
      `${models.length ? `models ${models.join(", ")}` : "no model yet"}`,
  );
}

export const profiles = listing<StoredProfile>({
  name: "profiles",
  summary: "The device profiles, one line each: version, model, budget, formats, match.",
  route: "/v1/profiles",
  key: "profiles",
  empty: () => "no profiles yet",
  line: (p) => `${describe(p)}, ${p.updatedAt}`,
});
