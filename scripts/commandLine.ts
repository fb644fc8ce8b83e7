/**
 * What every script in scripts/ does with its command line, as the CLI does (cli/command.ts):
 * --help or -h prints the usage and exits 0; an unknown or malformed option is one line on stderr
 * and exit 2; a user's error (a refused request, an unreachable Worker, a missing file) is one
 * line and exit 1. Anything else is a bug and keeps its stack.
 */
import { parseArgs, type ParseArgsOptionsConfig } from "node:util";
import type { Values } from "../cli/command.ts";
import { CliError, UsageError } from "../cli/errors.ts";

export { CliError, UsageError };

export interface Script {
  /** How it is run, e.g. `npm run seed`: the usage line and every error name it. */
  readonly name: string;
  /** What --help prints under `usage: <name> ...`: the arguments, then what it does and its options. */
  readonly usage: string;
  readonly options: ParseArgsOptionsConfig;
}

/** `--url` and `--token` as the CLI documents them, for the scripts that talk to a Worker. */
export const CONNECTION_OPTIONS = { url: { type: "string" }, token: { type: "string" } } as const;
export const CONNECTION_USAGE = `  --url URL        the Worker (default $D2C_URL, else http://127.0.0.1:8787)
  --token TOKEN    admin token (default $D2C_TOKEN, else ADMIN_TOKEN in ./.dev.vars); prefer those two:
                   npm prints the command line, --token included`;

export function helpOf(script: Script): string {
  return `usage: ${script.name}${script.usage.startsWith("\n") ? "" : " "}${script.usage.trimEnd()}\n`;
}

/** The options and positionals of `argv`; null when help was asked for. Throws UsageError, one line. */
export function parseScriptArgs(
  script: Script,
  argv: readonly string[],
): { values: Values; positionals: string[] } | null {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      options: { ...script.options, help: { type: "boolean", short: "h" } },
      allowPositionals: true,
      strict: true,
    });
  } catch (e) {
    // parseArgs goes on about positionals after an unknown option: its first sentence is the error.
    throw new UsageError((e instanceof Error ? e.message : String(e)).split("\n")[0].replace(/\. To specify .*$/, ""));
  }
  return parsed.values.help ? null : parsed;
}

/**
 * The port a script listens on or talks to: `--port`, else $PORT, else `fallback`. A value that is
 * not a TCP port is a UsageError naming where it came from.
 */
export function portOf(flag: string | undefined, env: string | undefined, fallback: number): number {
  const [value, from] = flag !== undefined ? [flag, "--port"] : env !== undefined ? [env, "PORT"] : [null, ""];
  if (value === null) return fallback;
  const port = Number(value);
  if (!/^\d+$/.test(value) || port < 1 || port > 65535)
    throw new UsageError(`${from} must be a TCP port (1-65535), got ${JSON.stringify(value)}`);
  return port;
}

/**
 * Runs a script's `main` with its parsed command line and turns its outcome into the exit code:
 * main's number (default 0), 2 for a usage error, 1 for a CliError; each error is one line on stderr.
 */
export async function runScript(
  script: Script,
  main: (args: { values: Values; positionals: string[] }) => Promise<number | undefined> | number | undefined,
  argv: readonly string[] = process.argv.slice(2),
): Promise<void> {
  // A reader that stops early (`| head -1`) ends the script quietly, as it does the CLI.
  process.stdout.on("error", (e: NodeJS.ErrnoException) => {
    if (e.code !== "EPIPE") throw e;
    process.exit(process.exitCode ?? 0);
  });
  try {
    const args = parseScriptArgs(script, argv);
    if (!args) {
      process.stdout.write(helpOf(script));
      process.exitCode = 0;
      return;
    }
    process.exitCode = (await main(args)) ?? 0;
  } catch (e) {
    if (!(e instanceof CliError) && !(e instanceof UsageError)) throw e; // a bug: keep the stack
    const hint = e instanceof UsageError ? ` (see ${script.name} -- --help)` : "";
    console.error(`${script.name}: ${e.message}${hint}`);
    process.exitCode = e instanceof UsageError ? 2 : 1;
  }
}
