/**
 * `npm run device -- --url http://127.0.0.1:8787 --device phone-1 --ram-mb 8192 --dir .device`:
 * a device on this machine, running the reference OTA client (clients/ts) with its adapters in
 * files under --dir. The signing key is pinned with --key <keyId>=<base64>, or on first use from
 * the server's /v1/keys (--pin-from-server, trust on first use: for a local walk-through only).
 * --locales de,en --apps gec,reply state what the device uses: once the server has built a
 * release for those tasks, the next sync switches to it. With --format parts (a parts profile,
 * issue 21), each task's plain LoRA is materialised from its part into <dir>/materialised/<task>/.
 */
import { mkdir, readdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { dirname, join, relative } from "node:path";
import { parseArgs } from "node:util";
import { OtaClient, partInfo, type AdapterFormat, type AdapterStore } from "../clients/ts/index.ts";

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

const { values } = parseArgs({
  options: {
    url: { type: "string", default: "http://127.0.0.1:8787" },
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
    "pin-from-server": { type: "boolean", default: false },
    dir: { type: "string", default: ".device" },
  },
});
if (!values.device) throw new Error("--device <id> is required (a stable installation id)");

const keysFile = join(values.dir, "pinned-keys.json");
let publicKeys: Record<string, string> = Object.fromEntries(
  (values.key ?? []).map((k) => k.split("=", 2) as [string, string]),
);
if (Object.keys(publicKeys).length === 0) {
  const pinned = await readFile(keysFile, "utf8").then(
    (t) => JSON.parse(t) as Record<string, string>,
    () => null,
  );
  if (pinned) publicKeys = pinned;
  else if (values["pin-from-server"]) {
    const { keys } = (await (await fetch(`${values.url}/v1/keys`)).json()) as {
      keys: Array<{ keyId: string; publicKey: string }>;
    };
    publicKeys = Object.fromEntries(keys.map((k) => [k.keyId, k.publicKey]));
    await mkdir(values.dir, { recursive: true });
    await writeFile(keysFile, JSON.stringify(publicKeys, null, 2));
    console.log(`pinned ${keys.map((k) => k.keyId).join(", ")} into ${keysFile}`);
  } else throw new Error("no key pinned: pass --key <keyId>=<base64> or --pin-from-server");
}

const client = new OtaClient({
  baseUrl: values.url,
  deviceId: values.device,
  ...(values.profile ? { profile: values.profile } : {}),
  traits: {
    ...(values["ram-mb"] ? { ramMb: Number(values["ram-mb"]) } : {}),
    ...(values.soc ? { soc: values.soc } : {}),
    ...(values.model ? { model: values.model } : {}),
    ...(values.os ? { os: values.os } : {}),
  },
  publicKeys,
  store: new FileStore(values.dir),
  ...(values.format ? { formats: values.format as AdapterFormat[] } : {}),
  ...(values.locales || values.apps
    ? { needs: { locales: values.locales?.split(",") ?? [], apps: values.apps?.split(",") ?? [] } }
    : {}),
});

const result = await client.sync();
console.log(
  `sync: ${result.status}, version ${result.version}, downloaded ${result.downloaded.length} ` +
    `blob(s)${result.error ? `; ${result.error}` : ""}`,
);
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
  await materialiseParts(manifest);
}

/**
 * A parts release: each routed task's plain LoRA materialised from its part, as an app would hand
 * it to its runtime, written under <dir>/materialised/<task>/ (PEFT, and .onnx_adapter).
 */
async function materialiseParts(manifest: NonNullable<Awaited<ReturnType<typeof client.current>>>): Promise<void> {
  const targets = manifest.model?.loraTargets;
  if (!targets || !manifest.adapters.some((a) => a.format === "parts")) return;
  const stored = manifest.adapters.reduce((n, a) => n + a.bytes, 0);
  console.log(
    `${manifest.adapters.length} parts, ${stored} bytes; each task's LoRA materialised under ` +
      `${join(values.dir, "materialised")}:`,
  );
  for (const task of Object.keys(manifest.routing).sort()) {
    const part = await client.adapterFor(task);
    if (part?.format !== "parts") continue;
    const { rank, dtype } = partInfo(part.bytes, targets);
    const out = join(values.dir, "materialised", task);
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
process.exitCode = result.status === "kept-previous" ? 1 : 0;
