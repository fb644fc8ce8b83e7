/**
 * Versioned schemas (durable-objects/migrations.ts): a run stored before the work ledger (its
 * leases in each kind's table, as issue 21 left them, with no version recorded) comes out of the
 * migrations with its leases in the ledger and nothing else lost; a version newer than the code is refused.
 */
import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { migrate } from "../../durable-objects/migrations";
import { RUN_MIGRATIONS } from "../../durable-objects/runTables";

/** A fresh ClusterRun's storage emptied back to no tables at all (what state from before versioning lacked). */
function emptied(sql: SqlStorage): SqlStorage {
  const tables = sql
    .exec<{ name: string }>(
      "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE '\\_cf\\_%' ESCAPE '\\' AND name " +
        "!= 'sqlite_sequence'",
    )
    .toArray();
  for (const { name } of tables) sql.exec(`DROP TABLE ${name}`);
  return sql;
}

describe("schema migrations", () => {
  it("moves a run's leases from its kinds' tables into the work ledger", async () => {
    const stub = env.CLUSTER_RUN.get(env.CLUSTER_RUN.idFromName(`migrations-${crypto.randomUUID()}`));
    await runInDurableObject(stub, (_, state) => {
      const sql = emptied(state.storage.sql);
      RUN_MIGRATIONS[0](sql);
      sql.exec(`INSERT INTO run (id, config, state, phase, iteration, created_at, updated_at, messages)
        VALUES (1, '{}', 'running', 'evaluate', 0, 'then', 'then', NULL)`);
      const unit = "(id, iteration, task, cluster, loss_key, loss, source, attempts, sent_at, error)";
      sql.exec(`INSERT INTO units ${unit} VALUES ('0:0:1', 0, 0, 1, 'k1', NULL, 'queue', 2, 1234, 'R2 was slow')`);
      sql.exec(`INSERT INTO units ${unit} VALUES ('0:1:1', 0, 1, 1, 'k2', 0.5, 'queue', 1, 1200, NULL)`);
      sql.exec(`INSERT INTO units ${unit} VALUES ('0:2:1', 0, 2, 1, 'k3', 0.7, 'cache', 0, 0, NULL)`);
      sql.exec(
        "INSERT INTO report_units (task, cluster, merged_sha256, test_sha256, attempts, sent_at) VALUES (3, " +
          "1, 'm', 't', 1, 99)",
      );

      expect(migrate(sql, RUN_MIGRATIONS)).toBe(RUN_MIGRATIONS.length);
      const work = sql.exec("SELECT id, kind, ref, attempts, sent_at, done_at, error FROM work ORDER BY id").toArray();
      expect(work).toEqual([
        { id: "0:0:1", kind: "unit", ref: "0:0:1", attempts: 2, sent_at: 1234, done_at: null, error: "R2 was slow" },
        { id: "0:1:1", kind: "unit", ref: "0:1:1", attempts: 1, sent_at: 1200, done_at: 0, error: null },
        { id: "test:3", kind: "report", ref: "3", attempts: 1, sent_at: 99, done_at: null, error: null },
      ]);
      // The lease columns are gone from the kinds' tables; their results stay; sends became messages.
      const columns = sql
        .exec<{ name: string }>("PRAGMA table_info(units)")
        .toArray()
        .map((c) => c.name);
      expect(columns).not.toContain("attempts");
      expect(
        sql
          .exec("SELECT id, loss FROM units ORDER BY id")
          .toArray()
          .map((u) => u.loss),
      ).toEqual([null, 0.5, 0.7]);
      expect(sql.exec<{ messages: number }>("SELECT messages FROM run").one().messages).toBe(3);
      // Run again: nothing to do, nothing changed.
      expect(migrate(sql, RUN_MIGRATIONS)).toBe(RUN_MIGRATIONS.length);
      expect(sql.exec<{ n: number }>("SELECT count(*) AS n FROM work").one().n).toBe(3);
    });
  });

  it("refuses a schema newer than the code", async () => {
    const stub = env.CLUSTER_RUN.get(env.CLUSTER_RUN.idFromName(`migrations-${crypto.randomUUID()}`));
    await runInDurableObject(stub, (_, state) => {
      const sql = state.storage.sql;
      sql.exec("UPDATE schema_version SET version = 99");
      expect(() => migrate(sql, RUN_MIGRATIONS)).toThrow(
        `schema version 99 is newer than this code's ${RUN_MIGRATIONS.length}`,
      );
    });
  });
});
