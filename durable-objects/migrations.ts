/**
 * A Durable Object's schema as ordered migrations: the stored version says how many have run, and
 * the missing ones run in order, in the transaction the object's constructor holds. A migration is
 * never edited once shipped: a change to a table is a new migration at the end. The version lives
 * in a one-row table, not SQLite's `PRAGMA user_version`, which Durable Objects refuse (SQLITE_AUTH).
 */
export type Migration = (sql: SqlStorage) => void;

/** Runs the migrations `sql` has not seen; returns the schema version it is now at. */
export function migrate(sql: SqlStorage, migrations: readonly Migration[]): number {
  sql.exec(
    "CREATE TABLE IF NOT EXISTS schema_version (id INTEGER PRIMARY KEY CHECK (id = 1), version INTEGER NOT NULL)",
  );
  const version = sql.exec<{ version: number }>("SELECT version FROM schema_version").toArray()[0]?.version ?? 0;
  if (version > migrations.length) {
    // Stored by newer code (a rollback): running on would misread its tables.
    throw new Error(`schema version ${version} is newer than this code's ${migrations.length}`);
  }
  for (let v = version; v < migrations.length; v++) migrations[v](sql);
  sql.exec("INSERT OR REPLACE INTO schema_version (id, version) VALUES (1, ?)", migrations.length);
  return migrations.length;
}
