/**
 * Finding 6 of the security review (issue 20): every mistake in a multipart push is refused by
 * name (400/404/409, never 500) and leaves R2 and the catalogue as they were; an upload whose
 * own bytes fail is aborted; the cron's sweep ends uploads abandoned for a day and deletes
 * pushed files no model registered, and keeps the files a registered model names.
 */
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { ABANDONED_AFTER_MS, sweepPushedFiles } from "../../src/models/pushedFiles";
import { call } from "./api";
import {
  completeUpload,
  DIR,
  encode,
  push,
  pushedModelJson,
  refused,
  register,
  sendPart,
  sha256Hex,
  snapshot,
  startUpload,
  tokenizerFiles,
} from "./modelFiles";
import { fixtureBytes } from "./seed";

const BYTES = encode("the bytes of a model file, pushed in one part");
let sha256: string;
const query = () => `?file=model.onnx&sha256=${sha256}`;

beforeAll(async () => {
  sha256 = await sha256Hex(BYTES);
});

describe("a part", () => {
  it(
    "of an unknown upload, or of another model's, is 404; without file or sha256, or with a path, 400; for " +
      "another file, 409",
    async () => {
      const mine = await startUpload("m-a", "model.onnx", sha256);
      const theirs = await startUpload("m-b", "model.onnx", sha256);
      const before = await snapshot();
      expect(
        await refused(await sendPart("m-a", "no-such-upload", 1, query(), BYTES), 404, "unknown_upload"),
      ).toContain("model m-a has no upload");
      expect(await refused(await sendPart("m-a", theirs.uploadId, 1, query(), BYTES), 404, "unknown_upload")).toContain(
        "model m-a has no upload",
      );
      expect(
        await refused(await sendPart("m-a", mine.uploadId, 1, `?sha256=${sha256}`, BYTES), 400, "invalid_request"),
      ).toContain("query file: the file name is required");
      expect(
        await refused(await sendPart("m-a", mine.uploadId, 1, "?file=model.onnx", BYTES), 400, "invalid_request"),
      ).toContain("query sha256");
      expect(
        await refused(
          await sendPart("m-a", mine.uploadId, 1, `?file=../x.onnx&sha256=${sha256}`, BYTES),
          400,
          "invalid_request",
        ),
      ).toContain("query file: must be a plain file name");
      const other = await refused(
        await sendPart("m-a", mine.uploadId, 1, `?file=model.onnx_data&sha256=${sha256}`, BYTES),
        409,
        "upload_mismatch",
      );
      expect(other).toContain(`is of ${sha256}/model.onnx, not ${sha256}/model.onnx_data`);
      expect(await snapshot()).toEqual(before);
      // Still open after those refusals: the right part goes in.
      expect((await sendPart("m-a", mine.uploadId, 1, query(), BYTES)).status).toBe(200);
    },
  );

  it("whose body is shorter than its Content-Length is 400, and ends its upload", async () => {
    const started = await startUpload("m-short", "model.onnx", sha256);
    const before = await snapshot();
    const body = new ReadableStream<Uint8Array>({ start: (c) => (c.enqueue(BYTES.subarray(0, 10)), c.close()) });
    const short = await call(`/v1/models/m-short/uploads/${encodeURIComponent(started.uploadId)}/parts/1${query()}`, {
      method: "PUT",
      headers: { authorization: "Bearer test-admin-token", "content-length": String(BYTES.byteLength) },
      body,
    });
    expect(await refused(short, 400, "bad_length")).toContain(
      `not the ${BYTES.byteLength} bytes its Content-Length says`,
    );
    expect(
      await refused(await sendPart("m-short", started.uploadId, 1, query(), BYTES), 404, "unknown_upload"),
    ).toBeTruthy();
    expect(await snapshot()).toEqual(before);
  });
});

describe("completing an upload", () => {
  async function withPart(modelId: string) {
    const started = await startUpload(modelId, "model.onnx", sha256);
    const part = (await (await sendPart(modelId, started.uploadId, 1, query(), BYTES)).json()) as {
      partNumber: number;
      etag: string;
    };
    return { uploadId: started.uploadId, part };
  }

  it("with a wrong etag or a part never sent is 400, and aborts the upload", async () => {
    for (const wrong of [
      (p: { etag: string }) => [{ partNumber: 1, etag: `${p.etag}0` }],
      (p: { etag: string }) => [
        { partNumber: 1, etag: p.etag },
        { partNumber: 2, etag: p.etag },
      ],
    ]) {
      const { uploadId, part } = await withPart("m-c");
      const before = await snapshot();
      expect(
        await refused(
          await completeUpload("m-c", uploadId, { file: "model.onnx", sha256, parts: wrong(part) }),
          400,
          "bad_parts",
        ),
      ).toContain("the upload is aborted, start again");
      expect(
        await refused(
          await completeUpload("m-c", uploadId, { file: "model.onnx", sha256, parts: [part] }),
          404,
          "unknown_upload",
        ),
      ).toContain("has no upload");
      expect(await snapshot()).toEqual(before);
    }
  });

  it("naming another file is 409, under another model 404; a completed upload reused is 409", async () => {
    const { uploadId, part } = await withPart("m-d");
    const before = await snapshot();
    expect(
      await refused(
        await completeUpload("m-d", uploadId, { file: "weights.data", sha256, parts: [part] }),
        409,
        "upload_mismatch",
      ),
    ).toContain(`not ${sha256}/weights.data`);
    expect(
      await refused(
        await completeUpload("m-e", uploadId, { file: "model.onnx", sha256, parts: [part] }),
        404,
        "unknown_upload",
      ),
    ).toContain("model m-e has no upload");
    expect(
      await refused(
        await completeUpload("m-d", uploadId, { file: "model.onnx", sha256, parts: [part, part] }),
        400,
        "bad_parts",
      ),
    ).toContain("part 1 is listed twice");
    expect(await snapshot()).toEqual(before);
    expect((await completeUpload("m-d", uploadId, { file: "model.onnx", sha256, parts: [part] })).status).toBe(200);
    const completed = await snapshot();
    expect(
      await refused(
        await completeUpload("m-d", uploadId, { file: "model.onnx", sha256, parts: [part] }),
        409,
        "upload_complete",
      ),
    ).toContain("start a new upload");
    expect(await refused(await sendPart("m-d", uploadId, 2, query(), BYTES), 409, "upload_complete")).toContain(
      "already complete",
    );
    expect(await snapshot()).toEqual(completed);
  });
});

describe("the cron's sweep", () => {
  it(
    "aborts uploads abandoned for a day, deletes pushed files no model registered, keeps a " + "registered model's",
    async () => {
      const abandoned = await startUpload("m-sweep", "model.onnx", sha256);
      expect((await sendPart("m-sweep", abandoned.uploadId, 1, query(), BYTES)).status).toBe(200);
      const unregistered = await push("m-sweep", "model.onnx", BYTES);
      expect(unregistered.done.status).toBe(200);
      const onnx = await fixtureBytes(`${DIR}/model.onnx`);
      const kept = await push("m-kept", "model.onnx", onnx);
      expect(kept.done.status).toBe(200);
      expect(
        (
          await register("m-kept", {
            "model.json": await pushedModelJson("m-kept", kept.sha256),
            ...(await tokenizerFiles()),
          })
        ).status,
      ).toBe(201);
      const keys = async () => (await env.BUCKET.list({ prefix: "models/m-" })).objects.map((o) => o.key).sort();
      const before = await keys();
      expect(before).toEqual(
        expect.arrayContaining([
          `models/m-sweep/${sha256}/model.onnx`,
          `models/m-sweep/${sha256}/model.onnx.verified`,
          `models/m-kept/${kept.sha256}/model.onnx`,
        ]),
      );

      // Less than a day on: nothing is touched.
      expect(await sweepPushedFiles(env, Date.now() + ABANDONED_AFTER_MS / 2)).toEqual([]);
      expect(await keys()).toEqual(before);

      const done = await sweepPushedFiles(env, Date.now() + ABANDONED_AFTER_MS + 60_000);
      expect(done).toEqual(
        expect.arrayContaining([
          `aborted upload of models/m-sweep/${sha256}/model.onnx`,
          `deleted unregistered models/m-sweep/${sha256}/model.onnx`,
        ]),
      );
      expect(done.join("\n")).not.toContain("m-kept");
      // Every other pushed file in this file's tests (m-d's too) was never registered: only m-kept's stay.
      expect(await keys()).toEqual(before.filter((k) => k.startsWith("models/m-kept/")));
      // The abandoned upload is gone in R2 as well as from the record.
      await expect(
        env.BUCKET.resumeMultipartUpload(`models/m-sweep/${sha256}/model.onnx`, abandoned.uploadId).uploadPart(
          2,
          BYTES,
        ),
      ).rejects.toThrow("10024");
      expect(
        await refused(await sendPart("m-sweep", abandoned.uploadId, 2, query(), BYTES), 404, "unknown_upload"),
      ).toBeTruthy();
      expect((await call("/v1/models/m-kept")).status).toBe(200);
    },
  );
});
