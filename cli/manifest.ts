/** `d2c-edge manifest --device <id>`: what a device is served (GET /v1/manifest, no token). */
import type { SignedManifest } from "../src/delivery/manifest.ts";
import { integer, text, type Command } from "./command.ts";
import { UsageError } from "./errors.ts";

export const manifest: Command = {
  name: "manifest",
  usage: "--device <id> [--ram-mb N --soc S --model M --os O | --profile P] [--json]",
  summary: "The signed manifest a device gets: profile, version, rollout, and the routing grouped by adapter.",
  help: `The device id picks the rollout bucket; the traits pick the profile (or --profile names it).
The signature is not checked here: the OTA client (clients/ts) does that on the device.

Options:
  --device ID      the device's id (required)
  --ram-mb N, --soc S, --model M, --os O   the device's traits
  --profile P      this profile, whatever the traits
  --json           print the signed manifest as JSON`,
  options: {
    device: { type: "string" },
    "ram-mb": { type: "string" },
    soc: { type: "string" },
    model: { type: "string" },
    os: { type: "string" },
    profile: { type: "string" },
    json: { type: "boolean" },
  },
  positionals: [],
  async run({ values, api }) {
    const device = text(values, "device");
    if (!device) throw new UsageError("--device <id> is required");
    const ramMb = integer(values, "ram-mb");
    const query = new URLSearchParams({ device });
    if (ramMb !== undefined) query.set("ramMb", String(ramMb));
    for (const trait of ["soc", "model", "os", "profile"]) {
      const value = text(values, trait);
      if (value !== undefined) query.set(trait, value);
    }
    const signed = await api.json<SignedManifest>("GET", `/v1/manifest?${query}`, { admin: false });
    if (values.json) {
      console.log(JSON.stringify(signed, null, 2));
      return 0;
    }
    const m = signed.manifest;
    console.log(
      `profile ${m.profile}, version ${m.version}, rollout ${m.rollout}%, signed by ${signed.keyId}, expires ` +
        `${m.expiresAt}`,
    );
    const byAdapter = new Map<string, string[]>();
    for (const [task, sha256] of Object.entries(m.routing).sort(([a], [b]) => a.localeCompare(b))) {
      byAdapter.set(sha256, [...(byAdapter.get(sha256) ?? []), task]);
    }
    const routed = m.adapters.filter((a) => byAdapter.has(a.sha256));
    console.log(
      `routing: ${Object.keys(m.routing).length} tasks over ${byAdapter.size} adapters (${routed[0]?.format ?? "?"})`,
    );
    for (const [sha256, tasks] of byAdapter) {
      const bytes = m.adapters.find((a) => a.sha256 === sha256)?.bytes;
      console.log(`  ${sha256.slice(0, 12)}  ${String(bytes ?? "?").padStart(8)} B  ${tasks.join(" ")}`);
    }
    const others = m.adapters.filter((a) => !byAdapter.has(a.sha256));
    for (const format of new Set(others.map((a) => a.format))) {
      const blobs = others.filter((a) => a.format === format);
      console.log(`also as ${format}: ${blobs.length} blobs, ${blobs.reduce((s, a) => s + a.bytes, 0)} B`);
    }
    return 0;
  },
};
