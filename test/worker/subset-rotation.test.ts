/**
 * Key rotation covers every served manifest (issue 20, finding 3): a device with a stated need is
 * served its own set's manifest, and keeps verifying it across add-next, switch and retire; a key
 * still signing any served manifest (here a subset's, as after a switch that failed part way)
 * cannot be retired, and the cron re-signs what the switch missed.
 */
import { createScheduledController, runInDurableObject } from "cloudflare:test";
import { env, exports } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { MemoryStore, OtaClient } from "../../clients/ts";
import { readEdge } from "../../src/delivery/edgeReads";
import type { SignedManifest } from "../../src/delivery/manifest";
import { subsetReleasesKey, type ProfileReleases } from "../../src/delivery/readModel";
import { manifestSigner } from "../../src/delivery/signing";
import type { SubsetView } from "../../src/delivery/subsetView";
import worker from "../../src/index";
import { call, publishKmeans, seedTaggedTasks, until } from "./api";

const TASKS = ["gec-de", "gec-en", "reply-de", "reply-en"];
const NEEDS = { locales: ["de"], apps: ["gec", "reply"] };
const post = (body?: unknown) => ({ method: "POST", ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
const keyIdOf = async (query: string) =>
  ((await (await call(`/v1/manifest?${query}`, { headers: {} })).json()) as SignedManifest).keyId;
const tick = () =>
  worker.scheduled(createScheduledController({ cron: "*/15 * * * *", scheduledTime: Date.now() }), env);

let first: { keyId: string; publicKey: string };
let subsetKey: string;

const device = (deviceId: string, store = new MemoryStore()) =>
  new OtaClient({
    baseUrl: "http://d2c.test",
    deviceId,
    profile: "rot",
    publicKeys: { [first.keyId]: first.publicKey },
    store,
    needs: NEEDS,
    fetch: (r) => exports.default.fetch(r),
  });

beforeAll(async () => {
  await seedTaggedTasks(TASKS);
  await publishKmeans("rot", TASKS, 2, { subsetQuorum: 1 });
  const signer = await manifestSigner(env.MANIFEST_SIGNING_KEY);
  first = { keyId: signer.keyId, publicKey: signer.publicKey };
});

describe("key rotation with per-device task sets", () => {
  it(
    "re-signs subset manifests on switch, refuses to retire a key that still signs one, and keeps a device " +
      "with a need working",
    async () => {
      const phone = device("phone-1");
      await phone.sync(); // reports the need; the profile-wide set meanwhile
      const subset = await until(
        async () => ((await (await call("/v1/profiles/rot")).json()) as { subsets: SubsetView[] }).subsets[0],
        (s) => s?.state === "published",
      );
      subsetKey = subset.key;
      expect(await phone.sync()).toMatchObject({ status: "updated", version: 1 });
      expect((await phone.current())?.subset).toBe(subsetKey);
      const subsetQuery = `profile=rot&device=phone-1&locales=de&apps=gec,reply`;
      expect(await keyIdOf(subsetQuery)).toBe(first.keyId);
      const oldSigned = (await readEdge<ProfileReleases>(env, subsetReleasesKey("rot", subsetKey)))!.newest!.signed;

      const next = await manifestSigner(env.MANIFEST_SIGNING_KEY_NEXT);
      expect((await call("/v1/keys/next", post({ publicKey: next.publicKey }))).status).toBe(201);
      const switched = await call("/v1/keys/switch", post());
      expect(switched.status).toBe(200);
      // The profile-wide manifest and the subset's: every served manifest, before the answer.
      expect(((await switched.json()) as { resigned: number }).resigned).toBe(2);
      expect(await keyIdOf(subsetQuery)).toBe(next.keyId);
      expect(await keyIdOf("profile=rot&device=phone-1")).toBe(next.keyId);

      // As if the switch had failed before this subset: its served manifest is still under the first key.
      const stub = env.SUBSET_RELEASES.get(env.SUBSET_RELEASES.idFromName(`rot/subsets/${subsetKey}`));
      await runInDurableObject(stub, async (_, state) => {
        state.storage.sql.exec("UPDATE releases SET signed = ? WHERE version = 1", oldSigned);
      });
      await stub.publish({ profile: "rot", subset: subsetKey });
      const keysBefore = await (await call("/v1/keys", { headers: {} })).text();
      const refused = await call(`/v1/keys/${first.keyId}/retire`, post());
      expect(refused.status).toBe(409);
      expect(await refused.json()).toMatchObject({
        error: { code: "key_in_use", message: expect.stringContaining(`subset ${subsetKey} of profile rot`) },
      });
      expect(await (await call("/v1/keys", { headers: {} })).text()).toBe(keysBefore);
      expect(await keyIdOf(subsetQuery)).toBe(first.keyId);

      // The cron re-signs what is not under the current key; then the retirement goes through.
      await tick();
      expect(await keyIdOf(subsetQuery)).toBe(next.keyId);
      expect((await call(`/v1/keys/${first.keyId}/retire`, post())).status).toBe(200);

      // The device that pinned only the first key learns the new one by its certificate and keeps its set;
      // a new device with the same need and the same pin installs it.
      // (A re-signed manifest is taken as an update of the same version, with nothing to download.)
      expect(await phone.sync()).toMatchObject({ status: "updated", version: 1, downloaded: [] });
      expect((await phone.current())?.subset).toBe(subsetKey);
      const fresh = device("phone-2");
      expect(await fresh.sync()).toMatchObject({ status: "updated", version: 1 });
      expect((await fresh.current())?.subset).toBe(subsetKey);
    },
  );
});
