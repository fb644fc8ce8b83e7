/**
 * Release commands of a device profile: publish, rollback, rollout, releases (the profile's, or one subset release's).
 */
import { text, type Command } from "./command.ts";
import { UsageError } from "./errors.ts";
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
  usage: "<profileId> <runId> [--rollout P]",
  summary: "Publish a finished run to a device profile: blobs first, then the signed manifest (a new release).",
  help: `Prints the new release.

Options:
  --rollout P      the percentage of devices the release starts at (default 100); \`rollout\` can only raise it
  --wait           then poll the device path (GET /v1/manifest, as a device in the rollout) until it
                   serves the new version: devices read an edge copy that can be about 2 minutes late
                   (docs/decisions/0008-edge-read-model.md); gives up after ${WAIT_SECONDS} s`,
  options: { rollout: { type: "string" }, wait: { type: "boolean" } },
  positionals: ["profileId", "runId"],
  async run({ values, positionals: [profile, runId], api }) {
    const rollout = typeof values.rollout === "string" ? numberArg(values.rollout, "rollout") : undefined;
    const body = rollout === undefined ? { runId } : { runId, rollout };
    const release = await api.json<Release>("POST", `/v1/profiles/${profile}/releases`, { json: body });
    console.log(describe(profile, release));
    if (!values.wait) return 0;
    const started = Date.now();
    const device = await deviceInRollout(profile, release.rollout);
    for (;;) {
      const served = await api
        .json<SignedManifest>("GET", `/v1/manifest?${new URLSearchParams({ profile, device })}`, { admin: false })
        .catch(() => null);
      const seconds = ((Date.now() - started) / 1000).toFixed(1);
      if (served && served.manifest.version >= release.version) {
        console.log(`devices see release ${served.manifest.version} after ${seconds} s`);
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
    usage: `<profileId> <${field}>`,
    options: {},
    positionals: ["profileId", field],
    async run({ positionals: [profile, value], api }) {
      const body = { [field]: numberArg(value, field) };
      console.log(
        describe(profile, await api.json<Release>("POST", `/v1/profiles/${profile}/${name}`, { json: body })),
      );
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
    if (values.json) console.log(JSON.stringify(answer, null, 2));
    else if (answer.releases.length === 0) console.log(`${name} has no release yet`);
    else for (const r of answer.releases) console.log(`${describe(name, r)}, ${r.createdAt}`);
    return 0;
  },
};
