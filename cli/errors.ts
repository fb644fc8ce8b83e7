/** The CLI's two kinds of expected failure; anything else is a bug and prints its stack. */

/** A mistake in how the CLI was called: exit code 2, with a pointer to the command's --help. */
export class UsageError extends Error {}

/** The server refused, a run failed, a file is missing: one line on stderr, exit code 1. */
export class CliError extends Error {}
