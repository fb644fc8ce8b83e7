/**
 * The largest rows of a local Worker's Durable Objects, read from the SQLite files `wrangler dev
 * --persist-to DIR` keeps (DIR/v3/do/<script>-<Class>/<object id>.sqlite), read-only. No route
 * exposes row sizes, and the platform refuses a row over 2 MB: this is the measurement beside it.
 * A row's bytes are its values' stored sizes: text and blobs their bytes, numbers 8, nulls 0.
 */
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";

/** Cloudflare's limit on one SQLite row (and one string or blob) in a Durable Object. */
export const DO_MAX_ROW_BYTES = 2 * 1024 * 1024;

export interface TableRows {
  readonly table: string;
  readonly rows: number;
  /** The largest row's bytes, its primary key (or rowid) and its largest column. */
  readonly largestRowBytes: number;
  readonly largestRowKey: string;
  readonly largestColumn: string;
  readonly largestColumnBytes: number;
}

export interface ObjectRows {
  /** The object's class and file (its id, as wrangler names the file). */
  readonly className: string;
  readonly file: string;
  readonly databaseBytes: number;
  readonly tables: TableRows[];
}

const quote = (name: string) => `"${name.replaceAll('"', '""')}"`;
const sizeOf = (column: string) =>
  `(CASE typeof(${column}) WHEN 'null' THEN 0 WHEN 'integer' THEN 8 WHEN 'real' THEN 8 ` +
  `ELSE length(CAST(${column} AS BLOB)) END)`;

/** The object files of one class under a persist directory (none when it was never written). */
export function objectFiles(persistTo: string, script: string, className: string): string[] {
  const dir = join(persistTo, "v3", "do", `${script}-${className}`);
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => f.endsWith(".sqlite") && f !== "metadata.sqlite")
    .map((f) => join(dir, f));
}

/** Row sizes of every table of one object's database. */
export function objectRows(file: string, className: string): ObjectRows {
  const db = new DatabaseSync(file, { readOnly: true });
  try {
    const tables = db
      .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
      .all()
      .map((r) => String(r.name));
    const pageCount = Number(db.prepare("PRAGMA page_count").get()!.page_count);
    const pageSize = Number(db.prepare("PRAGMA page_size").get()!.page_size);
    return { className, file, databaseBytes: pageCount * pageSize, tables: tables.map((t) => tableRows(db, t)) };
  } finally {
    db.close();
  }
}

function tableRows(db: DatabaseSync, table: string): TableRows {
  const info = db.prepare(`PRAGMA table_info(${quote(table)})`).all() as { name: string; pk: number }[];
  const columns = info.map((c) => c.name);
  const key = info
    .filter((c) => c.pk > 0)
    .sort((a, b) => a.pk - b.pk)
    .map((c) => quote(c.name));
  const keyExpr = key.length ? key.join(" || ':' || ") : "rowid";
  const rowBytes = columns.map((c) => sizeOf(quote(c))).join(" + ");
  const rows = Number(db.prepare(`SELECT count(*) AS n FROM ${quote(table)}`).get()!.n);
  const largest =
    rows === 0
      ? undefined
      : db
          .prepare(
            `SELECT ${rowBytes} AS bytes, ${keyExpr} AS key, ` +
              `${columns.map((c, i) => `${sizeOf(quote(c))} AS c${i}`).join(", ")} ` +
              `FROM ${quote(table)} ORDER BY bytes DESC LIMIT 1`,
          )
          .get();
  const sizes = columns.map((_, i) => Number(largest?.[`c${i}`] ?? 0));
  const widest = sizes.indexOf(Math.max(...sizes));
  return {
    table,
    rows,
    largestRowBytes: Number(largest?.bytes ?? 0),
    largestRowKey: String(largest?.key ?? ""),
    largestColumn: columns[widest] ?? "",
    largestColumnBytes: sizes[widest] ?? 0,
  };
}

/** The file among `files` whose `table` has a row matching `where` (one `?`: `value`): a run's object by its id. */
export function findObject(files: readonly string[], table: string, where: string, value: string): string | undefined {
  return files.find((file) => {
    const db = new DatabaseSync(file, { readOnly: true });
    try {
      const has = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?").get(table);
      return has !== undefined && db.prepare(`SELECT 1 FROM ${quote(table)} WHERE ${where}`).get(value) !== undefined;
    } finally {
      db.close();
    }
  });
}
