/**
 * The Catalogue's registry of signing keys: public keys, their status and statements. Private
 * keys never come here; they stay in Worker secrets (src/delivery/signing.ts). Each change is a
 * step of the rotation in docs/decisions/0009-key-rotation.md and is refused, changing nothing,
 * when it is out of order.
 */
import type { KeyStatement, KeyStatus, SigningKey } from "../src/delivery/keys";

interface KeyRow extends Record<string, SqlStorageValue> {
  key_id: string;
  public_key: string;
  status: KeyStatus;
  certificate: string | null;
  retirement: string | null;
  added_at: string;
}

/** A step refused: why, for a 409. */
export type KeyChange = { readonly keys: SigningKey[] } | { readonly refused: string };

export function createKeyTable(sql: SqlStorage): void {
  sql.exec(
    `CREATE TABLE IF NOT EXISTS signing_keys (
    key_id TEXT PRIMARY KEY, public_key TEXT NOT NULL, status TEXT NOT NULL, certificate TEXT, retirement TEXT, ` +
      `added_at TEXT NOT NULL)`,
  );
}

export function listKeys(sql: SqlStorage): SigningKey[] {
  const order: Record<KeyStatus, number> = { current: 0, next: 1, previous: 2, retired: 3 };
  return sql
    .exec<KeyRow>("SELECT * FROM signing_keys")
    .toArray()
    .map(
      (r): SigningKey => ({
        keyId: r.key_id,
        algorithm: "Ed25519",
        publicKey: r.public_key,
        status: r.status,
        addedAt: r.added_at,
        ...(r.certificate ? { certificate: JSON.parse(r.certificate) as KeyStatement } : {}),
        ...(r.retirement ? { retirement: JSON.parse(r.retirement) as KeyStatement } : {}),
      }),
    )
    .sort((a, b) => order[a.status] - order[b.status] || a.addedAt.localeCompare(b.addedAt));
}

/** The current key's id; the first signer becomes current when the registry is empty. */
export function currentKey(sql: SqlStorage, first: { keyId: string; publicKey: string }): string {
  const current = sql.exec<{ key_id: string }>("SELECT key_id FROM signing_keys WHERE status = 'current'").toArray()[0];
  if (current) return current.key_id;
  sql.exec(
    "INSERT INTO signing_keys (key_id, public_key, status, certificate, retirement, added_at) " +
      "VALUES (?, ?, 'current', NULL, NULL, ?)",
    first.keyId,
    first.publicKey,
    new Date().toISOString(),
  );
  return first.keyId;
}

export function addNext(
  sql: SqlStorage,
  key: { keyId: string; publicKey: string; certificate: KeyStatement },
): KeyChange {
  const next = listKeys(sql).find((k) => k.status === "next");
  if (next)
    return { refused: `key ${next.keyId} is already next: switch to it (POST /v1/keys/switch) or retire it first` };
  if (listKeys(sql).some((k) => k.keyId === key.keyId)) return { refused: `key ${key.keyId} is already registered` };
  sql.exec(
    "INSERT INTO signing_keys (key_id, public_key, status, certificate, retirement, added_at) " +
      "VALUES (?, ?, 'next', ?, NULL, ?)",
    key.keyId,
    key.publicKey,
    JSON.stringify(key.certificate),
    new Date().toISOString(),
  );
  return { keys: listKeys(sql) };
}

/** The next key becomes current; the current one, previous. */
export function switchToNext(sql: SqlStorage): KeyChange {
  const next = listKeys(sql).find((k) => k.status === "next");
  if (!next) return { refused: "no next key: add one first (POST /v1/keys/next)" };
  sql.exec("UPDATE signing_keys SET status = 'previous' WHERE status = 'current'");
  sql.exec("UPDATE signing_keys SET status = 'current' WHERE key_id = ?", next.keyId);
  return { keys: listKeys(sql) };
}

export function retire(sql: SqlStorage, keyId: string, retirement: KeyStatement): KeyChange {
  const key = listKeys(sql).find((k) => k.keyId === keyId);
  if (!key) return { refused: `no key ${keyId}` };
  if (key.status === "current")
    return { refused: `key ${keyId} is current: switch to the next key before retiring it` };
  if (key.status === "retired") return { refused: `key ${keyId} is already retired` };
  sql.exec(
    "UPDATE signing_keys SET status = 'retired', retirement = ? WHERE key_id = ?",
    JSON.stringify(retirement),
    keyId,
  );
  return { keys: listKeys(sql) };
}
