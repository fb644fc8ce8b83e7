/**
 * Release commands of a device profile: publish, rollback, rollout, releases (the profile's, or one subset release's).
 */
import type { Api } from "./api.ts";
import { printJson, text, type Command } from "./command.ts";
import { CliError, UsageError } from "./errors.ts";
import type { RunStatus } from "../src/runs/status.ts";
import type { SignedManifest } from "../src/delivery/manifest.ts";
import type { ReleaseSummary as Release } from "../src/delivery/release.ts";
import { inRollout, rolloutBucket } from "../src/delivery/rollout.ts";

const describe = (profile: string, r: Release) =>
  `${profile} release ${r.version}: ` +
  `${r.kind === "rollback" ? `rollback to release ${r.sourceVersion}` : `run ${r.runId}`}, ` +
  `${r.clusters.length} adapters${r.adapters === r.clusters.length ? "" : ` (${r.adapters} blobs)`} for ` +
  `${r.tasks} tasks, ` +
  `J = ${r.objective.toFixed(4)}, rollout ${r.rollout}%`;

const numberArg = (value: string, name: string) => {
  if (!/^\d+(\.\d+)?$/.test(value)) throw new UsageError(`<${name}> must be a number, got ${JSON.stringify(value)}`);
  return Number(value);
};

/** How long `publish --wait` polls, and how often: the edge copy's delay is about 2 minutes at most. */
const WAIT_SECONDS = 300;
const WAIT_POLL_MS = 2_000;

export const publish: Command = {
  name: "publish",
  usage: "<profileId> <runId> [--rollout P] [--wait] [--dry-run] [--json]",
  summary: "Publish a finished run to a device profile: blobs first, then the signed manifest (a new release).",
  help: `Prints the new release.

Options:
  --rollout P      the percentage of devices the release starts at (default 100); \`rollout\` can only raise it
  --wait           then poll the device path (GET /v1/manifest, as a device in the rollout) until it
                   serves the new version: devices read an edge copy that can be about 2 minutes late
                   (docs/decisions/0008-edge-read-model.md); gives up after ${WAIT_SECONDS} s
  --dry-run        say what would be published (from GETs of the run and the profile), send nothing
  --json           print the new release as JSON (with --wait, the wait's outcome goes to stderr)`,
  options: { rollout: { type: "string" }, wait: { type: "boolean" }, "dry-run": { type: "boolean" } },
  positionals: ["profileId", "runId"],
  async run({ values, positionals: [profile, runId], api }) {
    const rollout = typeof values.rollout === "string" ? numberArg(values.rollout, "rollout") : undefined;
    if (values["dry-run"]) return dryPublish(api, profile, runId, rollout ?? 100, values.json === true);
    const body = rollout === undefined ? { runId } : { runId, rollout };
    const release = await api.json<Release & { unchanged?: boolean }>("POST", `/v1/profiles/${profile}/releases`, {
      json: body,
    });
    if (values.json) printJson(release);
    else
      console.log(
        `${describe(profile, release)}${release.unchanged ? " (already the newest release: nothing published)" : ""}`,
      );
    if (!values.wait) return 0;
    const started = Date.now();
    const device = await deviceInRollout(profile, release.rollout);
    for (;;) {
      const served = await api
        .json<SignedManifest>("GET", `/v1/manifest?${new URLSearchParams({ profile, device })}`, { admin: false })
        .catch(() => null);
      const seconds = ((Date.now() - started) / 1000).toFixed(1);
      if (served && served.manifest.version >= release.version) {
        (values.json ? console.error : console.log)(
          `devices see release ${served.manifest.version} after ${seconds} s`,
        );
        return 0;
      }
      if (Date.now() - started > WAIT_SECONDS * 1000) {
        console.error(
          `devices still see ${served ? `release ${served.manifest.version}` : "no release"} after ${seconds} s`,
        );
        return 1;
      }
      await new Promise((resolve) => setTimeout(resolve, WAIT_POLL_MS));
    }
  },
};

/** What publish would do, from GETs only: the run must be done; the profile's newest release may already ship it. */
async function dryPublish(api: Api, profile: string, runId: string, rollout: number, json: boolean): Promise<number> {
  const run = await api.json<RunStatus>("GET", `/v1/runs/${encodeURIComponent(runId)}`);
  const stored = await api.json<{ release: Release | null }>("GET", `/v1/profiles/${encodeURIComponent(profile)}`);
  if (run.state !== "done" || !run.result)
    throw new CliError(`${runId} is ${run.state}: publishing it would be refused (a release needs a finished run)`);
  const newest = stored.release;
  const already = newest?.kind === "publish" && newest.runId === runId;
  if (json) {
    printJson({ dryRun: true, profile, runId, rollout, newestRelease: newest, alreadyNewest: already });
    return 0;
  }
  if (already) {
    console.log(
      `${profile} release ${newest.version} already ships ${runId} as the newest release: publishing it again ` +
        `makes no new version; nothing was sent`,
    );
    return 0;
  }
  const r = run.result;
  console.log(
    `would publish ${runId} to ${profile} as a new release${newest ? ` after release ${newest.version}` : ""}: ` +
      `${r.clusters.length} adapters for ${run.tasks.length} tasks, J = ${r.objective.toFixed(4)}, ` +
      `rollout ${rollout}%; nothing was sent`,
  );
  return 0;
}

/** A device id in the release's rollout (its stable bucket below the percentage), to ask as. */
async function deviceInRollout(profile: string, percent: number): Promise<string> {
  for (let i = 0; ; i++)
    if (inRollout(await rolloutBucket(profile, `publish-wait-${i}`), percent)) return `publish-wait-${i}`;
}

/** A command that POSTs one number to `/v1/profiles/:id/<name>` and prints the release it answers with. */
function releaseAction(
  name: "rollback" | "rollout",
  field: "version" | "percent",
  summary: string,
  help: string,
): Command {
  return {
    name,
    summary,
    help,
    usage: `<profileId> <${field}> [--json]`,
    options: {},
    positionals: ["profileId", field],
    async run({ values, positionals: [profile, value], api }) {
      const body = { [field]: numberArg(value, field) };
      const release = await api.json<Release>("POST", `/v1/profiles/${profile}/${name}`, { json: body });
      if (values.json) printJson(release);
      else console.log(describe(profile, release));
      return 0;
    },
  };
}

export const rollback = releaseAction(
  "rollback",
  "version",
  "Serve an earlier release's adapters again, as a new (higher) version.",
  "Prints the new release.",
);

export const rollout = releaseAction(
  "rollout",
  "percent",
  "Set the percentage of devices (stable buckets of their ids) that get the profile's newest release.",
  "Devices outside it keep the release before.",
);

export const releases: Command = {
  name: "releases",
  summary: "A profile's release history, newest first (with --subset KEY, one of its subset releases').",
  usage: "<profileId> [--subset KEY] [--json]",
  help: `Options:
  --subset KEY     the history of the profile's subset release KEY (its own signed versions; keys: d2c-edge subsets)
  --json           print GET /v1/profiles/:id/releases (with --subset, .../subsets/:key/releases) as JSON`,
  options: { subset: { type: "string" }, json: { type: "boolean" } },
  positionals: ["profileId"],
  async run({ values, positionals: [profile], api }) {
    const subset = text(values, "subset");
    const scope = subset === undefined ? "" : `/subsets/${encodeURIComponent(subset)}`;
    const path = `/v1/profiles/${profile}${scope}/releases`;
    const answer = await api.json<{ releases: Release[] }>("GET", path);
    const name = subset === undefined ? profile : `${profile} subset ${subset}`;
    if (values.json) printJson(answer);
    else if (answer.releases.length === 0) console.log(`${name} has no release yet`);
    else for (const r of answer.releases) console.log(`${describe(name, r)}, ${r.createdAt}`);
    return 0;
  },
};
