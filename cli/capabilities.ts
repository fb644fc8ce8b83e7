/**
 * `d2c-edge capabilities`: what the Worker offers (GET /v1/capabilities), and the reads other
 * commands make of it, so the CLI keeps no list of merge methods or formats of its own.
 */
import type { Api } from "./api.ts";
import type { Command } from "./command.ts";
import { UsageError } from "./errors.ts";

interface Parameter {
  readonly name: string;
  readonly field: string;
  readonly type: string;
  readonly range: string;
  readonly default?: number;
  readonly description: string;
}

/** The fields of GET /v1/capabilities the CLI reads (src/api/capabilities.ts has them all). */
export interface Capabilities {
  readonly mergeMethods: readonly { name: string; summary: string; parameters: readonly Parameter[] }[];
  readonly defaultMergeMethod: string;
  readonly formats: readonly {
    name: string;
    summary: string;
    dtypes: readonly string[];
    dtype: string;
    alone: boolean;
    budgets: readonly string[];
  }[];
  readonly defaultFormats: readonly string[];
  readonly runMethods: readonly string[];
  readonly defaultRunMethod: string;
}

export const capabilitiesOf = (api: Api) => api.json<Capabilities>("GET", "/v1/capabilities");

/** The formats as given, or a usage error naming the ones this Worker does not ship. */
export function checkedFormats(can: Capabilities, formats: readonly string[]): readonly string[] {
  const known = can.formats.map((f) => f.name);
  const unknown = formats.filter((f) => !known.includes(f));
  if (unknown.length) {
    const what = unknown.length === 1 ? "is not a format" : "are not formats";
    throw new UsageError(`--formats: ${unknown.join(", ")} ${what} this Worker ships (${known.join(", ")})`);
  }
  return formats;
}

const parameterLine = (p: Parameter) =>
  `${p.field} (${p.type} in ${p.range}${p.default === undefined ? "" : `, default ${p.default}`}): ${p.description}`;

export const capabilities: Command = {
  name: "capabilities",
  usage: "[--json]",
  summary: "The merge methods, release formats and run methods this Worker offers, with their parameters and rules.",
  help: `  --json             print GET /v1/capabilities as it is`,
  options: { json: { type: "boolean" } },
  positionals: [],
  async run({ values, api }) {
    const can = await capabilitiesOf(api);
    if (values.json) {
      console.log(JSON.stringify(can, null, 2));
      return 0;
    }
    const lines = [`merge methods (--merge; default ${can.defaultMergeMethod}):`];
    for (const m of can.mergeMethods) {
      lines.push(`  ${m.name}: ${m.summary}`, ...m.parameters.map((p) => `      ${parameterLine(p)}`));
    }
    lines.push(`formats (--formats; default ${can.defaultFormats.join(",")}):`);
    for (const f of can.formats) {
      const dtype = `${f.dtype === "profile" ? "the profile's dtype" : f.dtype} (${f.dtypes.join(", ")})`;
      const alone = f.alone ? "; alone in a profile" : "";
      lines.push(`  ${f.name}: ${f.summary}; ${dtype}; budget ${f.budgets.join(" or ")}${alone}`);
    }
    lines.push(`run methods (--method; default ${can.defaultRunMethod}): ${can.runMethods.join(", ")}`);
    console.log(lines.join("\n"));
    return 0;
  },
};
