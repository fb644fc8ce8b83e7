/**
 * `npm run check:gen`: regenerates src/models/gen from onnx.proto into a temporary directory (the same
 * `buf generate` as `npm run gen:proto`: buf and protoc-gen-es from node_modules, no network) and fails
 * on any difference from the committed files, so a hand edit or a version bump without regenerating
 * does not land.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runScript, type Script } from "./commandLine.ts";

const SCRIPT: Script = {
  name: "npm run check:gen",
  usage: `

Regenerates src/models/gen from onnx.proto into a temporary directory (buf and protoc-gen-es from
node_modules, no network) and fails when it differs from the committed files.`,
  options: {},
};

const GEN = "src/models/gen";

function main(): number {
  const out = mkdtempSync(join(tmpdir(), "d2c-edge-gen-"));
  try {
    execFileSync("buf", ["generate", GEN, "--template", join(GEN, "buf.gen.yaml"), "-o", out], { stdio: "inherit" });
    const generated = join(out, GEN);
    // Only the generated files: the .proto and the template beside them are inputs.
    const names = (dir: string) =>
      readdirSync(dir)
        .filter((name) => name.endsWith("_pb.ts"))
        .sort();
    const fresh = names(generated);
    const committed = names(GEN);
    const differing = [...new Set([...fresh, ...committed])].filter(
      (name) =>
        !fresh.includes(name) ||
        !committed.includes(name) ||
        !readFileSync(join(generated, name)).equals(readFileSync(join(GEN, name))),
    );
    if (differing.length > 0) {
      console.error(`${GEN} is not what buf generates from its .proto: ${differing.join(", ")}; run npm run gen:proto`);
      return 1;
    }
    console.log(`${GEN}: ${fresh.join(", ")} as generated`);
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
  return 0;
}

await runScript(SCRIPT, main);
