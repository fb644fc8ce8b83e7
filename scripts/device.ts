/**
 * `npm run device -- --device phone-1 --ram-mb 8192 --dir .device`: a device on this machine,
 * running the reference OTA client (clients/ts) against the Worker at --url ($D2C_URL, else
 * 8787, as the CLI) with its adapters in files under --dir; the options are in DEVICE's usage.
 * The device routes are public: no token is sent.
 */
import { mkdir, readdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { dirname, join, relative } from "node:path";
import { OtaClient, partInfo, type AdapterFormat, type AdapterStore } from "../clients/ts/index.ts";
import { connect } from "../cli/api.ts";
import { integer, list, text, type Values } from "../cli/command.ts";
import { runScript, UsageError, type Script } from "./commandLine.ts";

export const DEVICE: Script = {
  name: "npm run device",
  usage: `-- --device ID [--url URL] [--dir DIR] [traits] [--format F ...] [--locales L,L --apps A,A]
       [--key KEYID=BASE64 ... | --pin-from-server]

One sync of a device on this machine with the reference OTA client (clients/ts): it fetches the
signed manifest for its traits, checks the signature against its pinned keys, downloads the adapters
it lacks into --dir and prints what it holds. Exit 1 when the sync kept the previous release.

Options:
  --device ID        a stable installation id (required)
  --url URL          the Worker (default $D2C_URL, else http://127.0.0.1:8787); printed first
  --dir DIR          where the device keeps its files (default .device)
  --profile ID       ask for this profile instead of matching by traits
  --ram-mb N, --soc S, --model M, --os O   the device's traits, for the profiles' match rules
  --format F         a format it can use (peft, onnx_adapter, gguf, parts; repeatable); with parts,
                     each task's plain LoRA is materialised under DIR/materialised/<task>/
  --locales L,L --apps A,A   what it uses: once the server built a release for those tasks, the
                     next sync switches to it
  --key KEYID=BASE64 a signing key to trust (repeatable), else the keys pinned in DIR
  --pin-from-server  pin the server's /v1/keys on first use (trust on first use: a local walk-through only)`,
  options: {
    url: { type: "string" },
    device: { type: "string" },
    profile: { type: "string" },
    "ram-mb": { type: "string" },
    soc: { type: "string" },
    model: { type: "string" },
    os: { type: "string" },
    format: { type: "string", multiple: true },
    locales: { type: "string" },
    apps: { type: "string" },
    key: { type: "string", multiple: true },
    "pin-from-server": { type: "boolean" },
    dir: { type: "string" },
  },
};

/** The client's store as files: key "ota/adapters/<sha>" is <dir>/ota/adapters/<sha>. */
class FileStore implements AdapterStore {
  constructor(private readonly dir: string) {}

  async get(key: string): Promise<Uint8Array | null> {
    return readFile(join(this.dir, key)).then(
      (b) => new Uint8Array(b),
      () => null,
    );
  }

  async put(key: string, bytes: Uint8Array): Promise<void> {
    const path = join(this.dir, key);
    await mkdir(dirname(path), { recursive: true });
    await writeFile(`${path}.tmp`, bytes);
    await rename(`${path}.tmp`, path); // whole or nothing
  }

  async delete(key: string): Promise<void> {
    await rm(join(this.dir, key), { force: true });
  }

  async list(prefix: string): Promise<string[]> {
    const files = await readdir(this.dir, { recursive: true, withFileTypes: true }).catch(() => []);
    return files
      .filter((f) => f.isFile())
      .map((f) => relative(this.dir, join(f.parentPath, f.name)))
      .filter((k) => k.startsWith(prefix));
  }
}

/** The signing keys the device trusts: --key, else those pinned in DIR, else (--pin-from-server) the server's. */
async function trustedKeys(values: Values, url: string, dir: string): Promise<Record<string, string>> {
  const given = (values.key as string[] | undefined) ?? [];
  const keys = Object.fromEntries(
    given.map((k) => {
      // Split at the first "=": a base64 key ends in "=" padding.
      const at = k.indexOf("=");
      if (at < 1) throw new UsageError(`--key must be KEYID=BASE64, got ${JSON.stringify(k)}`);
      return [k.slice(0, at), k.slice(at + 1)];
    }),
  );
  if (given.length) return keys;
  const keysFile = join(dir, "pinned-keys.json");
  const pinned = await readFile(keysFile, "utf8").then(
    (t) => JSON.parse(t) as Record<string, string>,
    () => null,
  );
  if (pinned) return pinned;
  if (!values["pin-from-server"])
    throw new UsageError("no key pinned: pass --key <keyId>=<base64> or --pin-from-server");
  const served = await connect(url).json<{ keys: Array<{ keyId: string; publicKey: string }> }>("GET", "/v1/keys", {
    admin: false,
  });
  const fromServer = Object.fromEntries(served.keys.map((k) => [k.keyId, k.publicKey]));
  await mkdir(dir, { recursive: true });
  await writeFile(keysFile, JSON.stringify(fromServer, null, 2));
  console.log(`pinned ${served.keys.map((k) => k.keyId).join(", ")} from ${url} into ${keysFile}`);
  return fromServer;
}

/** The client, its refusal of an option (a key that is not base64, say) a usage error. */
function newClient(options: ConstructorParameters<typeof OtaClient>[0]): OtaClient {
  try {
    return new OtaClient(options);
  } catch (e) {
    if (e instanceof TypeError) throw new UsageError(e.message);
    throw e;
  }
}

async function device(values: Values): Promise<number> {
  const deviceId = text(values, "device");
  if (!deviceId) throw new UsageError("--device <id> is required (a stable installation id)");
  const url = connect(text(values, "url")).url;
  const dir = text(values, "dir") ?? ".device";
  console.log(`device ${deviceId} on ${url}, files in ${dir}`);
  const client = newClient({
    baseUrl: url,
    deviceId,
    ...(values.profile ? { profile: text(values, "profile") } : {}),
    traits: {
      ...(values["ram-mb"] ? { ramMb: integer(values, "ram-mb", 1) } : {}),
      ...(values.soc ? { soc: text(values, "soc") } : {}),
      ...(values.model ? { model: text(values, "model") } : {}),
      ...(values.os ? { os: text(values, "os") } : {}),
    },
    publicKeys: await trustedKeys(values, url, dir),
    store: new FileStore(dir),
    ...(values.format ? { formats: values.format as AdapterFormat[] } : {}),
    ...(values.locales || values.apps
      ? { needs: { locales: list(values, "locales") ?? [], apps: list(values, "apps") ?? [] } }
      : {}),
  });

  const result = await client.sync();
  console.log(`sync: ${result.status}, version ${result.version}, downloaded ${result.downloaded.length} blob(s)`);
  // Why the sync kept what the device had (the server unreachable, a refused manifest): one line, on stderr.
  if (result.error) console.error(`${DEVICE.name}: ${url}: ${result.error}`);
  const manifest = await client.current();
  if (manifest) {
    console.log(
      `profile ${manifest.profile}${manifest.subset ? `, task set ${manifest.subset}` : ""}, release ` +
        `${manifest.version}, rollout ${manifest.rollout}%, expires ${manifest.expiresAt}`,
    );
    // A parts release is one file per task: the lines below say more, task by task.
    const parts = manifest.adapters.some((a) => a.format === "parts");
    const held = new Map<string, { line: string; tasks: string[] }>();
    for (const task of parts ? [] : Object.keys(manifest.routing).sort()) {
      const adapter = await client.adapterFor(task);
      const key = adapter?.sha256 ?? "missing";
      const entry = held.get(key) ?? {
        line: adapter
          ? `${adapter.format} ${adapter.sha256.slice(0, 12)} (${adapter.bytes.byteLength} bytes)`
          : "missing",
        tasks: [],
      };
      entry.tasks.push(task);
      held.set(key, entry);
    }
    for (const { line, tasks } of held.values()) console.log(`  ${line}: ${tasks.join(" ")}`);
    if (manifest.unadapted?.length)
      console.log(`  base model alone (no part paid its bytes): ${manifest.unadapted.join(" ")}`);
    await materialiseParts(client, manifest, dir);
  }
  return result.status === "kept-previous" ? 1 : 0;
}

/**
 * A parts release: each routed task's plain LoRA materialised from its part, as an app would hand
 * it to its runtime, written under <dir>/materialised/<task>/ (PEFT, and .onnx_adapter).
 */
async function materialiseParts(
  client: OtaClient,
  manifest: NonNullable<Awaited<ReturnType<OtaClient["current"]>>>,
  dir: string,
): Promise<void> {
  const targets = manifest.model?.loraTargets;
  if (!targets || !manifest.adapters.some((a) => a.format === "parts")) return;
  const stored = manifest.adapters.reduce((n, a) => n + a.bytes, 0);
  console.log(
    `${manifest.adapters.length} parts, ${stored} bytes; each task's LoRA materialised under ` +
      `${join(dir, "materialised")}:`,
  );
  for (const task of Object.keys(manifest.routing).sort()) {
    const part = await client.adapterFor(task);
    if (part?.format !== "parts") continue;
    const { rank, dtype } = partInfo(part.bytes, targets);
    const out = join(dir, "materialised", task);
    await mkdir(out, { recursive: true });
    const sizes: string[] = [];
    for (const format of ["peft", "onnx_adapter"] as const) {
      for (const [name, bytes] of Object.entries((await client.materialise(task, format))!)) {
        await writeFile(join(out, name), bytes);
        if (name !== "adapter_config.json") sizes.push(`${name} ${bytes.byteLength} bytes`);
      }
    }
    console.log(`  ${task}: part rank ${rank} ${dtype} (${part.bytes.byteLength} bytes) -> ${sizes.join(", ")}`);
  }
}

if (import.meta.main) await runScript(DEVICE, ({ values }) => device(values));
