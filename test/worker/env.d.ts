// Test-only bindings, added to the Env that `wrangler types` generates.
declare namespace Cloudflare {
  interface Env {
    /** GET /<key> answers r2-fixtures/<key> (vitest.config.ts). */
    FIXTURES: Fetcher;
    /** The key the rotation test switches to (vitest.config.ts; in production a `wrangler secret`). */
    MANIFEST_SIGNING_KEY_NEXT: string;
  }
}
