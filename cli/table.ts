/** Aligned columns for the listing commands (`runs`, `tasks`): a header, then one row per item. */

export interface Column<T> {
  readonly header: string;
  readonly cell: (item: T) => string;
  /** Numbers read best right-aligned. */
  readonly right?: boolean;
}

/** Lines with each column as wide as its widest cell, two spaces between, no trailing blanks. */
export function table<T>(columns: readonly Column<T>[], items: readonly T[]): string[] {
  const cells = items.map((item) => columns.map((c) => c.cell(item)));
  const widths = columns.map((c, i) => Math.max(c.header.length, ...cells.map((row) => row[i].length)));
  const line = (row: readonly string[]) =>
    row
      .map((cell, i) => (columns[i].right ? cell.padStart(widths[i]) : cell.padEnd(widths[i])))
      .join("  ")
      .trimEnd();
  return [line(columns.map((c) => c.header)), ...cells.map(line)];
}

/** A value the server may not report (yet): "-" in a table. */
export const orDash = <T>(value: T | undefined | null, show: (value: T) => string): string =>
  value === undefined || value === null ? "-" : show(value);

/** Seconds as people read a run's length: 33.1 s, 4 min 05 s, 1 h 02 min. */
export function duration(seconds: number): string {
  if (seconds < 60) return `${seconds.toFixed(1)} s`;
  const whole = Math.round(seconds);
  const minutes = Math.floor(whole / 60);
  if (minutes < 60) return `${minutes} min ${String(whole % 60).padStart(2, "0")} s`;
  return `${Math.floor(minutes / 60)} h ${String(minutes % 60).padStart(2, "0")} min`;
}

/** US dollars with two significant digits below a cent (a small run costs fractions of one). */
export const dollars = (usd: number) => `$${usd >= 0.01 ? usd.toFixed(2) : usd.toPrecision(2)}`;
