/**
 * The digest a signed manifest names a base model by (src/delivery/manifest.ts, ManifestModel):
 * the sha256 of model.onnx when the graph holds its weights; for weights in external data files,
 * the sha256 of the lines `<file> <sha256>` of the graph and each data file, in that order, so
 * that changing any one file changes it. Devices compute the same from the files they hold.
 */
import type { ModelContract } from "../inference/contract";
import { sha256Hex } from "../storage/sha256";

export async function modelDigest(onnx: ModelContract["onnx"]): Promise<string> {
  if (!onnx.externalData?.length) return onnx.sha256;
  const files = [{ file: "model.onnx", sha256: onnx.sha256 }, ...onnx.externalData];
  return sha256Hex(files.map((f) => `${f.file} ${f.sha256}\n`).join(""));
}
