/** The reference OTA client: keeps a device's adapters at the newest release it can verify. */
import { canonicalJson } from "../../src/delivery/canonical";
import type {
  AdapterFormat,
  Manifest,
  ManifestAdapter,
  ManifestModel,
  SignedManifest,
  SigningKeys,
} from "../../src/delivery/manifest";
import type { DeviceTraits } from "../../src/delivery/profiles";
import { checkAcceptable, releaseStream } from "./acceptance";
import { downloadAdapter, type FetchLike } from "./download";
import { selectAdapters } from "./selection";
import { materialisePart, type MaterialisedFormat } from "./parts";
import { ManifestVerifier, type LearnedKeys } from "./signature";
import { storeKeys, type AdapterStore } from "./store";

export interface OtaClientOptions {
  /** The d2c-edge Worker, e.g. "https://d2c.example.com"; a path prefix is kept. */
  readonly baseUrl: string;
  /** Stable device id; the server buckets it for staged rollouts. */
  readonly deviceId: string;
  /** Ask for this profile by id (the server skips trait matching, and the client refuses any other). */
  readonly profile?: string;
  /** Sent when `profile` is not, for the server to pick the profile (the server's own trait type). */
  readonly traits?: DeviceTraits;
  /** keyId -> base64 raw 32-byte Ed25519 public key, shipped with the app: never fetched from the server it checks. */
  readonly publicKeys: Readonly<Record<string, string>>;
  readonly store: AdapterStore;
  /** Defaults to the global `fetch`; a Worker's own fetch (e.g. `exports.default.fetch`) talks to it in-process. */
  readonly fetch?: FetchLike;
  /** The clock that expiry is judged by; defaults to the system clock. */
  readonly now?: () => Date;
  /** Adapter formats this device can load, best first; default `["peft"]`. */
  readonly formats?: readonly AdapterFormat[];
  /**
   * The languages and apps this device uses: the server then serves a release built for just
   * those tasks once it has one (the profile-wide release until then), and the client switches
   * to it like to any newer release, all or nothing.
   */
  readonly needs?: { readonly locales?: readonly string[]; readonly apps?: readonly string[] };
  /**
   * The base model this device holds (id, and the digest of its weights as manifests name it:
   * src/models/digest.ts). Give it in an app: a release for another base is then refused.
   */
  readonly model?: ManifestModel;
}

export interface SyncResult {
  /** `kept-previous`: something failed, and the last good set (if any) is still the one served. */
  readonly status: "updated" | "unchanged" | "kept-previous";
  /** Version of the set served after this sync; null before the first good one. */
  readonly version: number | null;
  /** sha256 of every blob completed and verified during this sync. */
  readonly downloaded: string[];
  /** Why the sync kept the previous set, or why cleanup after a switch failed. */
  readonly error?: string;
}

export interface InstalledAdapter {
  readonly sha256: string;
  readonly format: AdapterFormat;
  readonly bytes: Uint8Array;
}

/** The last good release as persisted in the store. */
interface InstalledRelease {
  readonly signed: SignedManifest;
  readonly etag: string | null;
  /** taskId -> sha256 of the blob installed for it, in this device's format. */
  readonly installed: Readonly<Record<string, string>>;
}

interface ClientState {
  readonly release: InstalledRelease | null;
  /** Highest version accepted per release stream (profile, or profile/subset): the rollback floor. */
  readonly versions: Readonly<Record<string, number>>;
  /** What the key lists taught (certified keys, retirements); absent in a state written before it was kept. */
  readonly keys?: LearnedKeys;
}

export class OtaClient {
  readonly #baseUrl: string;
  readonly #options: OtaClientOptions;
  readonly #verifier: ManifestVerifier;
  readonly #fetch: FetchLike;
  readonly #now: () => Date;
  readonly #formats: readonly AdapterFormat[];
  #state: Promise<ClientState> | null = null;
  #syncing: Promise<SyncResult> | null = null;

  constructor(options: OtaClientOptions) {
    this.#options = options;
    this.#baseUrl = options.baseUrl.replace(/\/+$/, "");
    this.#verifier = new ManifestVerifier(options.publicKeys);
    // Wrapped, not stored bare: runtimes reject a global fetch called with another `this`.
    this.#fetch = options.fetch ?? ((request) => fetch(request));
    this.#now = options.now ?? (() => new Date());
    this.#formats = options.formats ?? ["peft"];
    if (this.#formats.length === 0) throw new TypeError("formats: at least one format is required");
  }

  /** Fetches the manifest and, when it is newer and everything verifies, switches to it. Never throws. */
  sync(): Promise<SyncResult> {
    this.#syncing ??= this.#sync().finally(() => {
      this.#syncing = null;
    });
    return this.#syncing;
  }

  /** The adapter serving `taskId` in the last good set, or null when that set has none. */
  async adapterFor(taskId: string): Promise<InstalledAdapter | null> {
    const { release } = await this.#loadState();
    if (!release || !Object.hasOwn(release.installed, taskId)) return null;
    const sha256 = release.installed[taskId];
    const entry = release.signed.manifest.adapters.find((adapter) => adapter.sha256 === sha256);
    const bytes = await this.#options.store.get(storeKeys.adapter(sha256));
    return entry && bytes ? { sha256, format: entry.format, bytes } : null;
  }

  /**
   * A parts release's task as the plain LoRA a runtime loads (clients/ts/parts.ts), by file name;
   * null when the last good set has no part for it (a task in `unadapted` runs the base model alone).
   */
  async materialise(taskId: string, format: MaterialisedFormat = "peft"): Promise<Record<string, Uint8Array> | null> {
    const installed = await this.adapterFor(taskId);
    if (installed?.format !== "parts") return null;
    const targets = (await this.current())?.model?.loraTargets;
    if (!targets) throw new Error("manifest: a parts release without model.loraTargets");
    return materialisePart(installed.bytes, targets, format);
  }

  /** The last good manifest, or null before the first successful sync. */
  async current(): Promise<Manifest | null> {
    return (await this.#loadState()).release?.signed.manifest ?? null;
  }

  /**
   * Reads the server's key list before a new manifest is checked: a rotated-in key is trusted
   * only through its certificate, a retired one is dropped (ManifestVerifier.learn). A list that
   * cannot be read teaches nothing; the keys trusted so far still decide. What it taught is
   * persisted at once, before the manifest is checked: a retirement must survive a restart even
   * when the manifest that followed it was refused.
   */
  async #learnKeys(state: ClientState): Promise<ClientState> {
    try {
      const response = await this.#fetch(new Request(`${this.#baseUrl}/v1/keys`));
      if (response.ok) await this.#verifier.learn(((await response.json()) as SigningKeys).keys ?? []);
    } catch {
      // Offline or garbled: keep what is trusted.
    }
    const keys = this.#verifier.learned();
    if (canonicalJson(keys) === canonicalJson(state.keys ?? { certified: [], retired: [] })) return state;
    const next: ClientState = { ...state, keys };
    await this.#options.store.put(storeKeys.state, new TextEncoder().encode(JSON.stringify(next)));
    this.#state = Promise.resolve(next);
    return next;
  }

  async #sync(): Promise<SyncResult> {
    let state = await this.#loadState();
    const previous = state.release;
    const version = previous?.signed.manifest.version ?? null;
    const downloaded: string[] = [];
    let release: InstalledRelease;
    let unchanged: boolean;
    try {
      const response = await this.#fetch(this.#manifestRequest(previous?.etag ?? null));
      if (response.status === 304 && previous) return { status: "unchanged", version, downloaded };
      if (response.status !== 200) throw new Error(`manifest: ${await describeFailure(response)}`);
      const signed = (await response.json()) as SignedManifest;
      state = await this.#learnKeys(state);
      await this.#verifier.verify(signed);
      const { manifest } = signed;
      checkAcceptable(manifest, {
        now: this.#now(),
        versions: state.versions,
        profile: this.#options.profile,
        model: this.#options.model,
      });
      const selected = selectAdapters(manifest, this.#formats);
      const held = new Set(await this.#options.store.list(storeKeys.adapterPrefix));
      for (const adapter of uniqueBySha(selected.values())) {
        if (held.has(storeKeys.adapter(adapter.sha256))) continue;
        await downloadAdapter(adapter, { fetch: this.#fetch, baseUrl: this.#baseUrl }, this.#options.store);
        downloaded.push(adapter.sha256);
      }
      const installed = Object.fromEntries([...selected].map(([taskId, adapter]) => [taskId, adapter.sha256]));
      unchanged =
        previous !== null &&
        canonicalJson([previous.signed.manifest, previous.installed]) === canonicalJson([manifest, installed]);
      release = { signed, etag: response.headers.get("ETag"), installed };
      // checkAcceptable refused anything below the floor, so this version is the new floor.
      const next: ClientState = {
        ...state,
        release,
        versions: { ...state.versions, [releaseStream(manifest)]: manifest.version },
      };
      // Persist before switching in memory, so a restart never serves a set the store does not describe.
      await this.#options.store.put(storeKeys.state, new TextEncoder().encode(JSON.stringify(next)));
      this.#state = Promise.resolve(next);
    } catch (error) {
      return { status: "kept-previous", version, downloaded, error: errorMessage(error) };
    }
    const result: SyncResult = {
      status: unchanged ? "unchanged" : "updated",
      version: release.signed.manifest.version,
      downloaded,
    };
    try {
      await this.#deleteUnreferenced(release);
    } catch (error) {
      return { ...result, error: `cleanup: ${errorMessage(error)}` };
    }
    return result;
  }

  #manifestRequest(etag: string | null): Request {
    const url = new URL(`${this.#baseUrl}/v1/manifest`);
    url.searchParams.set("device", this.#options.deviceId);
    if (this.#options.profile !== undefined) {
      url.searchParams.set("profile", this.#options.profile);
    } else {
      for (const [name, value] of Object.entries(this.#options.traits ?? {})) {
        if (value !== undefined) url.searchParams.set(name, String(value));
      }
    }
    const { locales, apps } = this.#options.needs ?? {};
    if (locales?.length) url.searchParams.set("locales", locales.join(","));
    if (apps?.length) url.searchParams.set("apps", apps.join(","));
    const headers = new Headers({ Accept: "application/json" });
    if (etag) headers.set("If-None-Match", etag);
    return new Request(url, { headers });
  }

  /** Blobs and partial downloads that the installed set does not reference. */
  async #deleteUnreferenced(release: InstalledRelease): Promise<void> {
    const { store } = this.#options;
    const keep = new Set(Object.values(release.installed).map(storeKeys.adapter));
    const keys = [...(await store.list(storeKeys.adapterPrefix)), ...(await store.list(storeKeys.partialPrefix))];
    for (const key of keys) if (!keep.has(key)) await store.delete(key);
  }

  #loadState(): Promise<ClientState> {
    this.#state ??= this.#readState();
    return this.#state;
  }

  /** The persisted state, its manifest re-verified: the store may be writable by more than this client. */
  async #readState(): Promise<ClientState> {
    const bytes = await this.#options.store.get(storeKeys.state);
    if (!bytes) return { release: null, versions: {} };
    const state = JSON.parse(new TextDecoder().decode(bytes)) as ClientState;
    // Before the manifest is checked: it may be signed by a key retired since it was installed.
    await this.#verifier.restore(state.keys);
    if (!state.release) return state;
    try {
      await this.#verifier.verify(state.release.signed);
      return state;
    } catch {
      return { ...state, release: null };
    }
  }
}

function* uniqueBySha(adapters: Iterable<ManifestAdapter>): Iterable<ManifestAdapter> {
  const seen = new Set<string>();
  for (const adapter of adapters) {
    if (seen.has(adapter.sha256)) continue;
    seen.add(adapter.sha256);
    yield adapter;
  }
}

/** Status and, when the body is the API's `{ error: { code, message } }`, its code and message. */
async function describeFailure(response: Response): Promise<string> {
  const text = await response.text();
  try {
    const { error } = JSON.parse(text) as { error?: { code?: string; message?: string } };
    if (error?.code || error?.message)
      return `HTTP ${response.status} ${error.code ?? ""}: ${error.message ?? ""}`.trim();
  } catch {
    // not the API's error body
  }
  return `HTTP ${response.status}`;
}

function errorMessage(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  // A network failure says why only in its cause: "fetch failed: connect ECONNREFUSED 127.0.0.1:8787".
  const cause = (error as { cause?: unknown }).cause;
  return cause instanceof Error ? `${error.message}: ${cause.message}` : error.message;
}
