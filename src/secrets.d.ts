// Secrets are not in wrangler.toml, so `wrangler types` cannot see them.
interface Env {
  /**
   * Bearer token of the admin routes (`wrangler secret put ADMIN_TOKEN`; locally `.dev.vars`), in RFC 6750's
   * token characters (A-Z a-z 0-9 - . _ ~ + /, then `=` padding), which hono/bearer-auth accepts.
   */
  ADMIN_TOKEN?: string;
  /** Ed25519 private key (JWK) signing release manifests (`wrangler secret put`; locally `.dev.vars`). */
  MANIFEST_SIGNING_KEY?: string;
  /**
   * During a key rotation, the next key's private JWK (`wrangler secret put`), until it becomes current
   * (docs/decisions/0009).
   */
  MANIFEST_SIGNING_KEY_NEXT?: string;
  /**
   * Per-isolate memo of the device path's read model, ms (default 5000; tests set 0). Optional, so not in
   * wrangler.toml.
   */
  READ_MODEL_ISOLATE_MS?: string;
  /**
   * Idle time after each forward pass of a run's units, ms (default IDLE_AFTER_UNIT_MS, 5; the workerd tests set 0:
   * their requests do not wait behind a run, and the idle time only lengthened the suite). Optional, so not in
   * wrangler.toml.
   */
  UNIT_IDLE_MS?: string;
  /**
   * How often one isolate reports a device need to the Queue, ms (default 60000; tests set 0). Optional, so not in
   * wrangler.toml.
   */
  SUBSET_REPORT_MS?: string;
}
