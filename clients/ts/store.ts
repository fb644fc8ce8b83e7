/**
 * Where a device keeps its adapters and the last good manifest. The app supplies the backing
 * (files, IndexedDB, SQLite); the client needs only whole-value get/put/delete and a prefix listing.
 */
export interface AdapterStore {
  get(key: string): Promise<Uint8Array | null>;
  put(key: string, bytes: Uint8Array): Promise<void>;
  delete(key: string): Promise<void>;
  /** Every key that starts with `prefix`, in no particular order. */
  list(prefix: string): Promise<string[]>;
}

/** An in-memory store, for tests and examples. Copies on put and get so callers cannot alias it. */
export class MemoryStore implements AdapterStore {
  readonly #values = new Map<string, Uint8Array>();

  async get(key: string): Promise<Uint8Array | null> {
    const value = this.#values.get(key);
    return value ? value.slice() : null;
  }

  async put(key: string, bytes: Uint8Array): Promise<void> {
    this.#values.set(key, bytes.slice());
  }

  async delete(key: string): Promise<void> {
    this.#values.delete(key);
  }

  async list(prefix: string): Promise<string[]> {
    return [...this.#values.keys()].filter((key) => key.startsWith(prefix));
  }
}

/** The store's key layout, in one place. */
export const storeKeys = {
  /** The client's persisted state: last good signed manifest, its ETag, the installed set. */
  state: "ota/state.json",
  adapterPrefix: "ota/adapters/",
  partialPrefix: "ota/partial/",
  adapter: (sha256: string) => `ota/adapters/${sha256}`,
  /** Bytes of an interrupted download, kept apart so a half blob is never served. */
  partial: (sha256: string) => `ota/partial/${sha256}`,
} as const;
