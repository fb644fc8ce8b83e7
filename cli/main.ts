/** The CLI itself: its commands, help and exit codes (cli/d2c-edge.ts launches it). */
import { readFileSync } from "node:fs";
import { apply } from "./apply.ts";
import { cancel } from "./cancel.ts";
import { CONNECTION_HELP, helpOf, parse, type Command } from "./command.ts";
import { capabilities } from "./capabilities.ts";
import { CliError, UsageError } from "./errors.ts";
import { evaluate } from "./evaluate.ts";
import { keys } from "./keys.ts";
import { manifest } from "./manifest.ts";
import { model } from "./model.ts";
import { profile, profiles } from "./profiles.ts";
import { publish, releases, rollback, rollout } from "./releases.ts";
import { push } from "./push.ts";
import { report } from "./report.ts";
import { run } from "./run.ts";
import { runs } from "./runs.ts";
import { status } from "./status.ts";
import { subsets } from "./subsets.ts";
import { tasks } from "./tasks.ts";

const COMMANDS: readonly Command[] = [
  model,
  push,
  tasks,
  run,
  status,
  cancel,
  report,
  runs,
  evaluate,
  apply,
  profile,
  profiles,
  publish,
  rollback,
  rollout,
  releases,
  subsets,
  manifest,
  keys,
  capabilities,
];

const NAME_WIDTH = Math.max(...COMMANDS.map((c) => c.name.length));

const HELP = `usage: d2c-edge <command> [options]

Cluster, merge and ship task LoRA adapters: the d2c-edge Worker's operator CLI.

Commands:
${COMMANDS.map((c) => `  ${c.name.padEnd(NAME_WIDTH)}  ${c.summary}`).join("\n")}

d2c-edge <command> --help describes a command and its options. Every command takes:
${CONNECTION_HELP}
d2c-edge --version (-V) prints the CLI's version.
`;

/** The package's version (package.json beside cli/), what `--version` prints. */
function version(): string {
  return (JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as { version: string }).version;
}

/**
 * Options every command takes may come before the command too (`d2c-edge --url U runs --json`, as
 * wrangler and kubectl allow): they are moved after it, where the command's parser reads them.
 */
function commandFirst(argv: readonly string[]): string[] {
  const leading: string[] = [];
  let i = 0;
  for (; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === "--json" || /^--(url|token)=/.test(arg)) leading.push(arg);
    else if ((arg === "--url" || arg === "--token") && i + 1 < argv.length) leading.push(arg, argv[++i]);
    else break;
  }
  return i === argv.length ? [...argv] : [argv[i], ...leading, ...argv.slice(i + 1)];
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = commandFirst(argv);
  if (name === undefined) {
    process.stderr.write(HELP);
    return 2;
  }
  if (name === "--help" || name === "-h" || name === "help") {
    process.stdout.write(HELP);
    return 0;
  }
  if (name === "--version" || name === "-V") {
    console.log(version());
    return 0;
  }
  const command = COMMANDS.find((c) => c.name === name);
  if (!command)
    throw new UsageError(
      `unknown command ${JSON.stringify(name)}; commands: ${COMMANDS.map((c) => c.name).join(", ")}`,
    );
  try {
    const invocation = parse(command, rest);
    if (!invocation) {
      process.stdout.write(helpOf(command));
      return 0;
    }
    return await command.run(invocation);
  } catch (e) {
    if (e instanceof UsageError) throw new UsageError(`${name}: ${e.message} (see d2c-edge ${name} --help)`);
    throw e;
  }
}

// A reader that stops early (`| head -1`) ends the CLI quietly, as it does other Unix tools.
process.stdout.on("error", (e: NodeJS.ErrnoException) => {
  if (e.code !== "EPIPE") throw e;
  process.exit(process.exitCode ?? 0);
});

/** A failure of the machine, not of the code (a file missing or unreadable, a disk full): said in one line. */
const systemError = (e: unknown): e is NodeJS.ErrnoException =>
  e instanceof Error && typeof (e as NodeJS.ErrnoException).syscall === "string";

try {
  process.exitCode = await main(process.argv.slice(2));
} catch (e) {
  if (!(e instanceof CliError) && !(e instanceof UsageError) && !systemError(e)) throw e; // a bug: keep the stack
  console.error(`d2c-edge: ${e.message}`);
  process.exitCode = e instanceof UsageError ? 2 : 1;
}
