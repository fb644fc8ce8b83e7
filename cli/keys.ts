/**
 * `d2c-edge keys [step]`: the signing-key rotation of docs/decisions/0009-key-rotation.md.
 *   list      (the default) the keys devices are told about, with their status
 *   add-next  make a key pair here, keep the private key in a file, have the current key certify the public one
 *   switch    sign with the next key from now on (after its secret is set and devices have synced)
 *   retire    withdraw an old key (--key-id), after the switch
 */
import { generateKeyPairSync } from "node:crypto";
import { existsSync } from "node:fs";
import { link, rm, writeFile } from "node:fs/promises";
import type { SigningKey } from "../src/delivery/keys.ts";
import { HttpError, type Api } from "./api.ts";
import { printJson, text, type Command } from "./command.ts";
import { CliError, UsageError } from "./errors.ts";

const line = (k: SigningKey) =>
  `${k.keyId}  ${k.status.padEnd(8)}  ` +
  `${k.publicKey}${k.certificate ? `  certified by ${k.certificate.signedBy}` : ""}` +
  `${k.retirement ? `  retired by ${k.retirement.signedBy}` : ""}`;

export const keys: Command = {
  name: "keys",
  usage: "[list | add-next | switch | retire] [--key-id ID] [--out FILE] [--json]",
  summary: "List the manifest-signing keys, or take a step of a key rotation.",
  help: `\`d2c-edge keys\` alone lists the keys (as \`keys list\`): id, status, public key, who certified it.

Steps, in order (docs/decisions/0009-key-rotation.md):
  add-next   makes an Ed25519 key pair and registers the public key as next, certified by the
             current key; the private key (JWK) is in --out (default
             ./manifest-signing-key-next.jwk, mode 600, never overwritten) only once the server
             has accepted it, and nowhere when it refuses; then set the secret:
             npx wrangler secret put MANIFEST_SIGNING_KEY_NEXT < FILE
  switch     the next key signs from now on; every profile's served manifests are re-signed
  retire     withdraws --key-id (not the current key); devices refuse what it signed

Options:
  --key-id ID      the key to retire
  --out FILE       where add-next writes the private key
  --json           print the server's answer (the key list; add-next: with privateKeyFile) as JSON`,
  options: { "key-id": { type: "string" }, out: { type: "string" } },
  positionals: [],
  optional: ["step"],
  async run({ values, positionals: [step = "list"], api }) {
    const json = values.json === true;
    switch (step) {
      case "list": {
        const listed = await api.json<{ keys: SigningKey[] }>("GET", "/v1/keys", { admin: false });
        if (json) printJson(listed);
        else for (const k of listed.keys) console.log(line(k));
        return 0;
      }
      case "add-next": {
        const out = text(values, "out") ?? "manifest-signing-key-next.jwk";
        const { added, keys: listed } = await addNext(api, out);
        if (json) {
          printJson({ keys: listed, privateKeyFile: out });
          return 0;
        }
        console.log(line(added));
        console.log(
          `private key in ${out}; next: npx wrangler secret put MANIFEST_SIGNING_KEY_NEXT < ${out}, let ` +
            `devices sync, then d2c-edge keys switch`,
        );
        return 0;
      }
      case "switch": {
        const switched = await api.json<{ keys: SigningKey[]; resigned: number }>("POST", "/v1/keys/switch");
        if (json) {
          printJson(switched);
          return 0;
        }
        for (const k of switched.keys) console.log(line(k));
        console.log(`${switched.resigned} served manifests re-signed with ${switched.keys[0].keyId}`);
        return 0;
      }
      case "retire": {
        const keyId = text(values, "key-id");
        if (!keyId) throw new UsageError("retire needs --key-id <id>");
        const retired = await api.json<{ keys: SigningKey[] }>("POST", `/v1/keys/${encodeURIComponent(keyId)}/retire`);
        if (json) printJson(retired);
        else for (const k of retired.keys) console.log(line(k));
        return 0;
      }
      default:
        throw new UsageError(`unknown step ${JSON.stringify(step)}: list, add-next, switch or retire`);
    }
  },
};

/**
 * Registers a new key pair's public half and leaves its private half in `out`. The private key is
 * on disk (`out`.pending, mode 600) before the server hears of the key, so an accepted key is
 * never lost, and at `out` only after the server accepted it, so a refusal leaves no file.
 */
async function addNext(api: Api, out: string): Promise<{ added: SigningKey; keys: SigningKey[] }> {
  // Refused before anything: an existing file may be the key of an earlier rotation.
  if (existsSync(out))
    throw new CliError(
      `--out ${out} already exists (perhaps the key of an earlier rotation); it is never overwritten: give ` +
        `another --out`,
    );
  const pending = `${out}.pending`;
  if (existsSync(pending))
    throw new CliError(
      `${pending} exists: an interrupted add-next left it, and it may hold the private key of a registered ` +
        `next key (see d2c-edge keys list); move it away first`,
    );
  const jwk = generateKeyPairSync("ed25519").privateKey.export({ format: "jwk" });
  try {
    await writeFile(pending, JSON.stringify(jwk), { mode: 0o600, flag: "wx" });
  } catch (e) {
    throw new CliError(`cannot write the private key beside --out ${out}: ${(e as Error).message}`);
  }
  let listed: SigningKey[];
  try {
    ({ keys: listed } = await api.json<{ keys: SigningKey[] }>("POST", "/v1/keys/next", {
      json: { publicKey: Buffer.from(jwk.x!, "base64url").toString("base64") },
    }));
  } catch (e) {
    // A refusal (4xx) registered nothing; after a 5xx or a lost connection the key may be next, so its secret stays.
    if (!(e instanceof HttpError && e.status < 500))
      throw new CliError(
        `${(e as Error).message}; the key may be registered (see d2c-edge keys list): its private key is ` +
          `kept in ${pending}`,
      );
    await rm(pending, { force: true });
    throw e;
  }
  const added = listed.find((k) => k.status === "next")!;
  try {
    // link, not rename: a file that appeared at `out` meanwhile is not overwritten either.
    await link(pending, out);
  } catch (e) {
    throw new CliError(
      `key ${added.keyId} is registered as next, but ${out} could not be written (${(e as Error).message}): ` +
        `its private key is in ${pending}`,
    );
  }
  await rm(pending);
  return { added, keys: listed };
}
