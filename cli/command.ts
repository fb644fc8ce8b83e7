/** What every subcommand is: its help, its options, and what it does with them. */
import { parseArgs, type ParseArgsOptionsConfig } from "node:util";
import { connect, type Api } from "./api.ts";
import { UsageError } from "./errors.ts";

export type Values = Record<string, string | boolean | (string | boolean)[] | undefined>;

export interface Invocation {
  readonly values: Values;
  readonly positionals: string[];
  readonly api: Api;
}

export interface Command {
  readonly name: string;
  /** One line for `d2c-edge --help`. */
  readonly summary: string;
  /** The arguments, as in `usage: d2c-edge <name> <usage>`. */
  readonly usage: string;
  /** The options and what they mean, for `d2c-edge <name> --help`. */
  readonly help: string;
  readonly options: ParseArgsOptionsConfig;
  /** Names of the required positional arguments, in order. */
  readonly positionals: readonly string[];
  /** Names of optional positional arguments after the required ones (`tasks [list|show|delete] [taskId]`). */
  readonly optional?: readonly string[];
  /** Resolves to the process exit code. */
  run(invocation: Invocation): Promise<number>;
}

const CONNECTION: ParseArgsOptionsConfig = {
  url: { type: "string" },
  token: { type: "string" },
  help: { type: "boolean", short: "h" },
  // Every command answers in JSON on request, so a script never parses the lines meant for people.
  json: { type: "boolean" },
};

export const CONNECTION_HELP = `  --url URL        the Worker (default $D2C_URL, else http://127.0.0.1:8787)
  --token TOKEN    admin token (default $D2C_TOKEN, else ADMIN_TOKEN in ./.dev.vars)
  --json           the server's answer(s) as JSON on stdout and nothing else there (progress stays on stderr)`;

export function helpOf(command: Command): string {
  return (
    `usage: d2c-edge ${command.name} ` +
    `${command.usage}\n\n${command.summary}\n\n${command.help}\n\nEvery command:\n${CONNECTION_HELP}\n`
  );
}

/** Parses argv for `command`; null when --help was asked for. */
export function parse(command: Command, argv: string[]): Invocation | null {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      options: { ...CONNECTION, ...command.options },
      allowPositionals: true,
      strict: true,
    });
  } catch (e) {
    throw new UsageError(e instanceof Error ? e.message.split("\n")[0] : String(e));
  }
  const { values, positionals } = parsed;
  if (values.help) return null;
  if (positionals.length < command.positionals.length) {
    throw new UsageError(
      `missing ${command.positionals
        .slice(positionals.length)
        .map((p) => `<${p}>`)
        .join(" ")}`,
    );
  }
  const most = command.positionals.length + (command.optional?.length ?? 0);
  if (positionals.length > most) throw new UsageError(`unexpected argument ${JSON.stringify(positionals[most])}`);
  return { values, positionals, api: connect(text(values, "url"), text(values, "token")) };
}

export function text(values: Values, name: string): string | undefined {
  const value = values[name];
  return typeof value === "string" ? value : undefined;
}

/** A whole number option, or undefined when absent; anything else is a usage error. */
export function integer(values: Values, name: string, min = 0): number | undefined {
  const value = text(values, name);
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value) || Number(value) < min)
    throw new UsageError(`--${name} must be a whole number of at least ${min}, got ${JSON.stringify(value)}`);
  return Number(value);
}

/** A decimal number option, or undefined when absent. */
export function decimal(values: Values, name: string): number | undefined {
  const value = text(values, name);
  if (value === undefined) return undefined;
  if (!/^\d+(\.\d+)?$/.test(value)) throw new UsageError(`--${name} must be a number, got ${JSON.stringify(value)}`);
  return Number(value);
}

/** A comma-separated list option (`--tasks a,b`), or undefined when absent. */
export function list(values: Values, name: string): string[] | undefined {
  return text(values, name)
    ?.split(",")
    .map((item) => item.trim())
    .filter(Boolean);
}

/** `fields` without its undefined entries (the server's schemas are strict about what is sent). */
export function definedOnly<T extends Record<string, unknown>>(fields: T): Partial<T> {
  return Object.fromEntries(Object.entries(fields).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** The answer as JSON on stdout, for `--json`. */
export function printJson(answer: unknown): void {
  console.log(JSON.stringify(answer, null, 2));
}

/** A command that GETs a list and prints one line per item (with `--json`, the answer as it came). */
export function listing<T>(spec: {
  readonly name: string;
  readonly summary: string;
  /** Help text above the options. */
  readonly about?: string;
  readonly positionals?: readonly string[];
  /** The route as help shows it, e.g. `/v1/profiles/:id/releases`; requested as is unless `path` is given. */
  readonly route: string;
  readonly path?: (positionals: string[]) => string;
  /** The answer's field holding the list. */
  readonly key: string;
  /** What is printed for an empty list. */
  readonly empty: (positionals: string[]) => string;
  readonly line: (item: T, positionals: string[]) => string;
}): Command {
  const positionals = spec.positionals ?? [];
  return {
    name: spec.name,
    summary: spec.summary,
    usage: [...positionals.map((p) => `<${p}>`), "[--json]"].join(" "),
    help: `${spec.about ? `${spec.about}\n\n` : ""}Options:\n  --json           print GET ${spec.route} as JSON`,
    options: { json: { type: "boolean" } },
    positionals,
    async run({ values, positionals: args, api }) {
      const answer = await api.json<Record<string, T[]>>("GET", spec.path?.(args) ?? spec.route);
      if (values.json) console.log(JSON.stringify(answer, null, 2));
      else if (answer[spec.key].length === 0) console.log(spec.empty(args));
      else for (const item of answer[spec.key]) console.log(spec.line(item, args));
      return 0;
    },
  };
}
