// Secrets are not in wrangler.toml, so `wrangler types` cannot see them.
interface Env {
  /** Bearer token of the admin routes (`wrangler secret put ADMIN_TOKEN`; locally `.dev.vars`). */
  ADMIN_TOKEN?: string;
  /** Ed25519 private key (JWK) signing release manifests (`wrangler secret put`; locally `.dev.vars`). */
  MANIFEST_SIGNING_KEY?: string;
}
