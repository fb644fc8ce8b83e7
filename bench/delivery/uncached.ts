/**
 * bench:delivery's R2-alone Worker: the Worker as deployed, with the Cache API taken from this
 * isolate before the first request, so every adapter blob is read from R2 (src/api/devices.ts
 * serves without a cache where the runtime has none). The switch lives here, not in src/.
 */
import worker from "../../src/index";

export * from "../../src/index";

// An own property shadows the runtime's `caches` getter on the global scope's prototype.
Object.defineProperty(globalThis, "caches", { value: undefined, configurable: true });

export default worker;
