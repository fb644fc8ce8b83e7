/**
 * The scripts of scripts/ at their command line (issue 23): every one answers --help with its usage
 * and exit 0, an unknown option with one line and exit 2, a user's error with one line and exit 1,
 * never a stack. No Worker: the ones that need one are in push.test.ts; `npm start` is its parser.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { UsageError } from "../../cli/errors.ts";
import { parseScriptArgs, portOf } from "../../scripts/commandLine.ts";
import { nextSteps, START } from "../../scripts/start.ts";
import { runNode, TRANSFORM_FLAGS } from "./scriptRunner.ts";
import { FIXTURES } from "./worker.ts";

const script = (name: string) => fileURLToPath(new URL(`../../scripts/${name}.ts`, import.meta.url));
/** Each user-facing script, as package.json runs it. */
const SCRIPTS: Record<string, readonly string[]> = {
  "npm start": [script("start")],
  "npm run seed": [script("seed")],
  "npm run device": [...TRANSFORM_FLAGS, script("device")],
  "npm run world": [...TRANSFORM_FLAGS, script("world")],
  "npm run check:lines": [script("check-lines")],
  "npm run check:gen": [script("check-gen")],
  "npm run deploy:check": [script("deploy-check")],
};
/** A line on stderr that carries a stack trace. */
const STACK = /^\s+at /m;

let cwd: string;
beforeAll(async () => {
  cwd = await mkdtemp(join(tmpdir(), "d2c-scripts-"));
});
afterAll(async () => {
  await rm(cwd, { recursive: true, force: true });
});

describe("every script's command line", () => {
  for (const [name, args] of Object.entries(SCRIPTS)) {
    it(`${name}: --help and -h print the usage and exit 0; an unknown option is one line, exit 2`, async () => {
      for (const flag of ["--help", "-h"]) {
        const help = await runNode([...args, flag], cwd);
        expect([help.code, help.stderr]).toEqual([0, ""]);
        expect(help.stdout.startsWith(`usage: ${name}`)).toBe(true);
      }
      const wrong = await runNode([...args, "--no-such-option"], cwd);
      expect(wrong.code).toBe(2);
      expect(wrong.stdout).toBe("");
      expect(wrong.stderr).toBe(`${name}: Unknown option '--no-such-option' (see ${name} -- --help)\n`);
    });
  }

  it("documents D2C_TOKEN and .dev.vars as better than --token on the command line npm echoes", async () => {
    const help = await runNode([...SCRIPTS["npm run seed"], "--help"], cwd);
    expect(help.stdout).toContain("--token TOKEN");
    expect(help.stdout).toContain("prefer those two");
    expect(help.stdout).toContain("npm prints the command line");
  });
});

describe("user errors are one line", () => {
  it("seed: an unreachable Worker, and a directory that is no world", async () => {
    const world = ["--dir", FIXTURES];
    const unreachable = await runNode([...SCRIPTS["npm run seed"], ...world, "--url", "http://127.0.0.1:9"], cwd);
    expect(unreachable.code).toBe(1);
    expect(unreachable.stderr).toMatch(/^npm run seed: cannot reach http:\/\/127\.0\.0\.1:9: .+\n$/);
    const noWorld = await runNode([...SCRIPTS["npm run seed"], "--dir", cwd, "--url", "http://127.0.0.1:9"], cwd);
    expect(noWorld.code).toBe(1);
    expect(noWorld.stderr).toMatch(/^npm run seed: cannot read .*catalogue\.json: ENOENT \(is --dir a world\?\)\n$/);
  });

  it("device: names its server first; a missing id, a bad key, no key, an unreachable server", async () => {
    const device = (...args: string[]) =>
      runNode([...SCRIPTS["npm run device"], "--dir", join(cwd, "device"), ...args], cwd, { D2C_URL: undefined });
    const missing = await device();
    expect([missing.code, missing.stderr]).toEqual([
      2,
      "npm run device: --device <id> is required (a stable installation id) (see npm run device -- --help)\n",
    ]);
    const unpinned = await device("--device", "d1", "--url", "http://127.0.0.1:9");
    expect(unpinned.stdout).toBe(`device d1 on http://127.0.0.1:9, files in ${join(cwd, "device")}\n`);
    expect(unpinned.code).toBe(2);
    expect(unpinned.stderr).toContain("no key pinned");
    const badKey = await device("--device", "d1", "--url", "http://127.0.0.1:9", "--key", "k1=not base64");
    expect(badKey.code).toBe(2);
    expect(badKey.stderr).toContain("publicKeys.k1: not base64");
    const key = `k1=${Buffer.alloc(32, 7).toString("base64")}`;
    const offline = await device("--device", "d1", "--url", "http://127.0.0.1:9", "--key", key);
    expect(offline.code).toBe(1);
    expect(offline.stdout).toContain("sync: kept-previous");
    expect(offline.stderr).toMatch(/^npm run device: http:\/\/127\.0\.0\.1:9: fetch failed: .+\n$/);
    const pinning = await device("--device", "d1", "--url", "http://127.0.0.1:9", "--pin-from-server");
    expect(pinning.code).toBe(1);
    expect(pinning.stderr).toMatch(/^npm run device: cannot reach http:\/\/127\.0\.0\.1:9: .+\n$/);
    for (const result of [missing, unpinned, badKey, offline, pinning]) expect(result.stderr).not.toMatch(STACK);
  });

  it("world: an option out of range is a usage error, a missing world one line", async () => {
    const range = await runNode([...SCRIPTS["npm run world"], "--n", "0", "--out", join(cwd, "w")], cwd);
    expect([range.code, range.stderr]).toEqual([
      2,
      "npm run world: --n must be an integer in 1..99999, got 0 (see npm run world -- --help)\n",
    ]);
    const from = await runNode([...SCRIPTS["npm run world"], "--n", "2", "--out", join(cwd, "w"), "--from", cwd], cwd);
    expect([from.code, from.stderr]).toEqual([1, `npm run world: ${cwd} has no catalogue.json: give a world\n`]);
  });
});

describe("npm start's port", () => {
  const port = (argv: string[], env?: string) => {
    const args = parseScriptArgs(START, argv)!;
    return portOf(args.values.port as string | undefined, env, 8787);
  };

  it("is --port, else $PORT, else 8787", () => {
    expect(port(["--port", "8811"])).toBe(8811);
    expect(port(["--port=8812"], "8813")).toBe(8812);
    expect(port([], "8813")).toBe(8813);
    expect(port([])).toBe(8787);
  });

  it("is the one every printed link and curl line names", () => {
    const lines = nextSteps("http://127.0.0.1:8811", 40, 0).join("\n");
    // "up on", the console, the API reference, D2C_URL and both curl lines.
    expect(lines.match(/http:\/\/127\.0\.0\.1:\d+/g)).toEqual(Array(6).fill("http://127.0.0.1:8811"));
    expect(lines).not.toContain("8787");
    expect(lines).toContain("export D2C_URL=http://127.0.0.1:8811");
  });

  it("refuses what is not a TCP port, naming where it came from", () => {
    expect(() => port(["--port", "http"])).toThrow(new UsageError('--port must be a TCP port (1-65535), got "http"'));
    expect(() => port(["--port", "70000"])).toThrow(UsageError);
    expect(() => port([], "0")).toThrow(new UsageError('PORT must be a TCP port (1-65535), got "0"'));
    expect(() => parseScriptArgs(START, ["--port"])).toThrow(UsageError);
    expect(parseScriptArgs(START, ["-h"])).toBeNull();
  });
});
