/**
 * Durable Object stubs handed out in this isolate. Every call to an object goes through a stub
 * from src/storage/catalogue.ts or runs.ts, so a path that takes none calls none: what the test
 * of the device path (no Durable Object on a phone's request) counts.
 */
let stubs = 0;

export const durableObjectStubs = () => stubs;

export function counted<T>(stub: T): T {
  stubs++;
  return stub;
}
