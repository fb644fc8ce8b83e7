/**
 * The signer of the registry's current key. The registry (the Catalogue) says which key is
 * current; the private key comes from a Worker secret. Before any rotation the registry is empty
 * and MANIFEST_SIGNING_KEY's key becomes current.
 */
import { catalogue } from "../storage/catalogue";
import { manifestSigner, signerFor, type ManifestSigner } from "./signing";

export async function currentSigner(env: Env): Promise<ManifestSigner> {
  const first = await manifestSigner(env.MANIFEST_SIGNING_KEY);
  const keyId = await catalogue(env).currentKey({ keyId: first.keyId, publicKey: first.publicKey });
  const signer = await signerFor(env, keyId);
  if (!signer)
    throw new Error(
      `the current signing key ${keyId} is in neither MANIFEST_SIGNING_KEY nor MANIFEST_SIGNING_KEY_NEXT`,
    );
  return signer;
}
