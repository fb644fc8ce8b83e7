/**
 * `npm start`: wrangler dev on 127.0.0.1:8787 with persisted local R2/DO state, an admin token
 * generated into .dev.vars on first start (never committed), and the fixtures seeded.
 * `PORT=8797 npm start` listens elsewhere (a second Worker beside one on 8787, e.g. for a benchmark).
 */
import { spawn } from "node:child_process";
import { generateKeyPairSync, randomBytes } from "node:crypto";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { seed } from "./seed.ts";

const PORT = Number(process.env.PORT ?? 8787);
const URL = `http://127.0.0.1:${PORT}`;

/** A local secret from .dev.vars, generated there on first start (never committed). */
function localSecret(name: string, generate: () => string): string {
  const vars = existsSync(".dev.vars") ? readFileSync(".dev.vars", "utf8") : "";
  const found = new RegExp(`^${name}=(.+)$`, "m").exec(vars)?.[1]?.trim();
  if (found) return found;
  const value = generate();
  writeFileSync(".dev.vars", `${vars}${vars && !vars.endsWith("\n") ? "\n" : ""}${name}=${value}\n`, { mode: 0o600 });
  console.log(`generated ${name} into .dev.vars`);
  return value;
}

async function ready(timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    try {
      if ((await fetch(`${URL}/v1/tasks`)).status === 401) return; // up, and guarding the catalogue
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`the Worker did not answer on ${URL} within ${timeoutMs / 1000} s`);
}

const token = localSecret("ADMIN_TOKEN", () => randomBytes(24).toString("base64url"));
// The manifest signing key, an Ed25519 JWK (single-quoted: .dev.vars is dotenv syntax).
localSecret(
  "MANIFEST_SIGNING_KEY",
  () => `'${JSON.stringify(generateKeyPairSync("ed25519").privateKey.export({ format: "jwk" }))}'`,
);
// Shared by the Worker and `npm run evaluator` (each reads it from .dev.vars), both ways.
localSecret("EVALUATOR_SECRET", () => randomBytes(32).toString("base64url"));
const wrangler = spawn(
  "wrangler",
  ["dev", "--ip", "127.0.0.1", "--port", String(PORT), "--persist-to", ".wrangler/state"],
  {
    stdio: "inherit",
  },
);
wrangler.on("exit", (code) => process.exit(code ?? 0));
for (const signal of ["SIGINT", "SIGTERM"] as const) process.on(signal, () => wrangler.kill(signal));

try {
  await ready(120_000);
  const { uploaded, skipped } = await seed(URL, token, "r2-fixtures");
  console.log(`\nd2c-edge is up on ${URL}: ${uploaded} tasks seeded, ${skipped} already there.`);
  console.log(`  console: ${URL}/ (paste ADMIN_TOKEN from .dev.vars); API reference: ${URL}/api.html`);
  console.log("  TOKEN=$(grep ADMIN_TOKEN .dev.vars | cut -d= -f2)");
  console.log(`  curl -H "Authorization: Bearer $TOKEN" ${URL}/v1/tasks`);
  console.log(
    `  curl -H "Authorization: Bearer $TOKEN" -X POST ${URL}/v1/evaluate -d ` +
      `'{"task":"gec-de","adapter":"gec-de","split":"test"}'\n`,
  );
} catch (error) {
  console.error(error);
  wrangler.kill();
  process.exit(1);
}
