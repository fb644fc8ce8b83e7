/**
 * `d2c-edge keys <step>`: the signing-key rotation of docs/decisions/0009-key-rotation.md.
 *   list      the keys devices are told about, with their status
 *   add-next  make a key pair here, keep the private key in a file, have the current key certify the public one
 *   switch    sign with the next key from now on (after its secret is set and devices have synced)
 *   retire    withdraw an old key (--key-id), after the switch
 */
import { generateKeyPairSync } from "node:crypto";
import { writeFile } from "node:fs/promises";
import type { SigningKey } from "../src/delivery/keys.ts";
import { text, type Command } from "./command.ts";
import { UsageError } from "./errors.ts";

const line = (k: SigningKey) =>
  `${k.keyId}  ${k.status.padEnd(8)}  ${k.publicKey}${k.certificate ? `  certified by ${k.certificate.signedBy}` : ""}${k.retirement ? `  retired by ${k.retirement.signedBy}` : ""}`;

export const keys: Command = {
  name: "keys",
  usage: "<list | add-next | switch | retire> [--key-id ID] [--out FILE]",
  summary: "List the manifest-signing keys, or take a step of a key rotation.",
  help: `Steps, in order (docs/decisions/0009-key-rotation.md):
  add-next   makes an Ed25519 key pair, writes the private key (JWK) to --out (default
             ./manifest-signing-key-next.jwk, mode 600, never overwritten) and registers the
             public key as next, certified by the current key; then set the secret:
             npx wrangler secret put MANIFEST_SIGNING_KEY_NEXT < FILE
  switch     the next key signs from now on; every profile's served manifests are re-signed
  retire     withdraws --key-id (not the current key); devices refuse what it signed

Options:
  --key-id ID      the key to retire
  --out FILE       where add-next writes the private key`,
  options: { "key-id": { type: "string" }, out: { type: "string" } },
  positionals: ["step"],
  async run({ values, positionals: [step], api }) {
    switch (step) {
      case "list": {
        for (const k of (await api.json<{ keys: SigningKey[] }>("GET", "/v1/keys", { admin: false })).keys) console.log(line(k));
        return 0;
      }
      case "add-next": {
        const out = text(values, "out") ?? "manifest-signing-key-next.jwk";
        const jwk = generateKeyPairSync("ed25519").privateKey.export({ format: "jwk" });
        // flag "wx": an existing file (perhaps the key of an earlier rotation) is never overwritten.
        await writeFile(out, JSON.stringify(jwk), { mode: 0o600, flag: "wx" });
        const publicKey = Buffer.from(jwk.x!, "base64url").toString("base64");
        const { keys: listed } = await api.json<{ keys: SigningKey[] }>("POST", "/v1/keys/next", { json: { publicKey } });
        const added = listed.find((k) => k.status === "next")!;
        console.log(line(added));
        console.log(`private key in ${out}; next: npx wrangler secret put MANIFEST_SIGNING_KEY_NEXT < ${out}, let devices sync, then d2c-edge keys switch`);
        return 0;
      }
      case "switch": {
        const switched = await api.json<{ keys: SigningKey[]; resigned: number }>("POST", "/v1/keys/switch");
        for (const k of switched.keys) console.log(line(k));
        console.log(`${switched.resigned} served manifests re-signed with ${switched.keys[0].keyId}`);
        return 0;
      }
      case "retire": {
        const keyId = text(values, "key-id");
        if (!keyId) throw new UsageError("retire needs --key-id <id>");
        for (const k of (await api.json<{ keys: SigningKey[] }>("POST", `/v1/keys/${encodeURIComponent(keyId)}/retire`)).keys) console.log(line(k));
        return 0;
      }
      default:
        throw new UsageError(`unknown step ${JSON.stringify(step)}: list, add-next, switch or retire`);
    }
  },
};
