/** Copies r2-fixtures keys into the test's local R2 bucket. */
import { env } from "cloudflare:workers";

export async function fixtureBytes(key: string): Promise<Uint8Array> {
  const response = await env.FIXTURES.fetch(`http://fixtures/${key}`);
  if (!response.ok) throw new Error(`fixture ${key}: ${response.status}`);
  return new Uint8Array(await response.arrayBuffer());
}

export async function fixtureJson<T>(key: string): Promise<T> {
  return JSON.parse(new TextDecoder().decode(await fixtureBytes(key))) as T;
}

export async function seedKeys(keys: readonly string[]): Promise<void> {
  await Promise.all(keys.map(async (key) => env.BUCKET.put(key, await fixtureBytes(key))));
}
