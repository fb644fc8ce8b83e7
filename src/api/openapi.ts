/**
 * The OpenAPI 3.1 document, generated from the same zod schemas that validate the requests
 * (z.toJSONSchema), so the reference cannot drift from what the Worker accepts.
 */
import { Hono } from "hono";
import { z } from "zod";
import { ProfileSchema } from "../delivery/profiles";
import { RunRequest } from "../runs/start";
import { EvaluateRequest } from "./evaluate";
import { NextKeyRequest } from "./keys";
import { CompleteUpload, UploadFile } from "./modelUploads";
import { PublishRequest, RollbackRequest, RolloutRequest } from "./profiles";

type Operation = {
  summary: string;
  admin?: boolean;
  body?: z.ZodType;
  multipart?: string[];
  raw?: string;
  params?: string[];
  query?: string[];
  responses: Record<string, string>;
};

const ERRORS = {
  "400": "invalid request (the message names the field)",
  "401": "missing or wrong admin token",
  "404": "not found",
};

const PATHS: Record<string, Record<string, Operation>> = {
  "/v1/models": {
    get: { summary: "Registered base models", admin: true, responses: { "200": "{ models }", ...ERRORS } },
  },
  "/v1/models/{modelId}": {
    put: {
      summary:
        "Register a base model: a plain ONNX export (LoRA inputs added, model.json derived unless sent) or " +
        "one with the contract's LoRA inputs and its model.json; without model.onnx, model.json names files " +
        "pushed in parts",
      admin: true,
      params: ["modelId"],
      query: ["aliases", "evaluator", "targets", "maxSequence"],
      multipart: ["tokenizer.json", "tokenizer_config.json"],
      responses: {
        "201": "{ modelId, sha256, loraTargets, aliases, evaluator, catalogueVersion }",
        "409": "an alias names another model, or a named file was not pushed",
        "422": "too large for the in-Worker path (register with evaluator=remote)",
        ...ERRORS,
      },
    },
    get: {
      summary: "A model's contract",
      admin: true,
      params: ["modelId"],
      responses: { "200": "the model.json contract", ...ERRORS },
    },
  },
  "/v1/models/{modelId}/uploads": {
    post: {
      summary: "Start pushing a model file in parts (R2 multipart), stored under its sha256",
      admin: true,
      params: ["modelId"],
      body: UploadFile,
      responses: {
        "201": "{ path, uploadId, partBytes, complete: false }",
        "200": "{ path, complete: true }: already pushed",
        ...ERRORS,
      },
    },
  },
  "/v1/models/{modelId}/uploads/{uploadId}/parts/{partNumber}": {
    put: {
      summary: "One part (Content-Length required, at most partBytes)",
      admin: true,
      params: ["modelId", "uploadId", "partNumber"],
      query: ["file", "sha256"],
      raw: "application/octet-stream",
      responses: {
        "200": "{ partNumber, etag }",
        ...ERRORS,
        "400":
          "file or sha256 missing or malformed (invalid_request), or a body shorter than its Content-Length " +
          "(bad_length: the upload is aborted)",
        "404": "no open upload of this model with this id (unknown_upload)",
        "409": "the upload is for another file or digest (upload_mismatch), or already complete (upload_complete)",
        "411": "no Content-Length",
        "413": "part too large",
      },
    },
  },
  "/v1/models/{modelId}/uploads/{uploadId}/complete": {
    post: {
      summary: "Complete a pushed file; its bytes are hashed against the sha256 it was started with",
      admin: true,
      params: ["modelId", "uploadId"],
      body: CompleteUpload,
      responses: {
        "200": "{ path, bytes, complete: true }",
        ...ERRORS,
        "400":
          "invalid request, a wrong etag, a part never sent or listed twice (bad_parts: the upload is " +
          "aborted), or the bytes do not match the sha256 (the file is deleted)",
        "404": "no open upload of this model with this id (unknown_upload)",
        "409": "the upload is for another file (upload_mismatch), or already complete (upload_complete)",
      },
    },
  },
  "/v1/evaluator/objects/*": {
    get: {
      summary:
        "Evaluator service only (Bearer EVALUATOR_SECRET): a model file, merged adapter or example set it " +
        "needs, read-only, by R2 key",
      params: [],
      responses: {
        "200": "the object, with its etag",
        "304": "a matching If-None-Match (weak comparison), or not modified since If-Modified-Since",
        "400": "a malformed If-Match or If-None-Match, or a key over 1,024 bytes",
        "401": "missing or wrong evaluator secret",
        "404": "not found or outside models/, merged/, examples/",
        "412": "a failed If-Match (strong comparison) or If-Unmodified-Since",
      },
    },
  },
  "/v1/tasks": {
    get: {
      summary: "The catalogue: tasks and its version",
      admin: true,
      responses: { "200": "{ tasks, catalogueVersion }", ...ERRORS },
    },
  },
  "/v1/tasks/{taskId}": {
    get: { summary: "One task", admin: true, params: ["taskId"], responses: { "200": "the task", ...ERRORS } },
    delete: {
      summary: "Delete a task and its blobs",
      admin: true,
      params: ["taskId"],
      responses: { "200": "deleted", ...ERRORS },
    },
  },
  "/v1/tasks/{taskId}/adapter": {
    put: {
      summary: "Upload a task's PEFT LoRA adapter (validated against the model contract)",
      admin: true,
      params: ["taskId"],
      query: ["application", "language"],
      multipart: ["adapter_config.json", "adapter_model.safetensors"],
      responses: {
        "201": "{ taskId, adapterSha256, catalogueVersion, unchanged: false }: the task is new or changed",
        "200":
          "{ taskId, adapterSha256, catalogueVersion, unchanged: true }: the task already held these files (by " +
          "sha256 of each) for this model, tagged as asked; nothing written, the catalogue version unchanged",
        "413": "too large",
        ...ERRORS,
      },
    },
  },
  "/v1/tasks/{taskId}/examples": {
    put: {
      summary: "Upload a task's examples, JSONL {prompt, completion} per line",
      admin: true,
      params: ["taskId"],
      query: ["split"],
      raw: "application/x-ndjson",
      responses: {
        "201": "{ taskId, split, examples, catalogueVersion, unchanged: false }",
        "200":
          "{ taskId, split, examples, catalogueVersion, unchanged: true }: the split already held these bytes (by " +
          "sha256); nothing written, the catalogue version unchanged",
        ...ERRORS,
      },
    },
  },
  "/v1/evaluate": {
    post: {
      summary:
        "Few-shot loss (and held-out exact match) of a task under an adapter, or under its own adapter " +
        "compressed to a private part (part: { rank, dtype })",
      admin: true,
      body: EvaluateRequest,
      responses: {
        "200": "{ loss, exactMatch?, examples, tokens, forwardPasses, exampleLosses, ms, partBytes? }",
        ...ERRORS,
      },
    },
  },
  "/v1/runs": {
    get: {
      summary:
        "The 100 newest clustering runs, newest first, with how each went (a field the run has no value for is " +
        "absent; state too, on a run indexed before the index kept it, until a listing reads it from the run)",
      admin: true,
      responses: {
        "200":
          "{ runs: [{ runId, createdAt, method, k, tasks, profile?, state?: running | done | failed | cancelled, " +
          "objective? (J of what ships), heldOut? (the report's mean exact match, once done), finishedAt?, " +
          "durationSeconds?, estimatedUsd? }] }",
        ...ERRORS,
      },
    },
    post: {
      summary: "Start a clustering run (D2C or a baseline)",
      admin: true,
      body: RunRequest,
      responses: { "202": "{ runId, k, tasks }", "422": "budget too small", ...ERRORS },
    },
  },
  "/v1/runs/{runId}": {
    get: {
      summary:
        "A run's summary: state, phase, J and unit counts per iteration, the result (clusters with their " +
        "tasks, assignment of the best iteration), cost; the loss matrices are in /losses",
      admin: true,
      params: ["runId"],
      responses: { "200": "the run", ...ERRORS },
    },
  },
  "/v1/runs/{runId}/losses": {
    get: {
      summary:
        "A page of an iteration's loss matrix: one row per task (its cluster, its loss under every cluster); " +
        "iteration defaults to the newest, limit to 200 (at most 1000)",
      admin: true,
      params: ["runId"],
      query: ["iteration", "offset", "limit"],
      responses: {
        "200": "{ runId, iteration, k, offset, limit, total, rows: [{ task, cluster, losses }] }",
        ...ERRORS,
        "404": "no such run or iteration",
      },
    },
  },
  "/v1/runs/{runId}/events": {
    get: {
      summary: "Live progress as server-sent events (Last-Event-ID resumes)",
      admin: true,
      params: ["runId"],
      responses: { "200": "text/event-stream", ...ERRORS },
    },
  },
  "/v1/runs/{runId}/cancel": {
    post: {
      summary: "Cancel a running run",
      admin: true,
      params: ["runId"],
      responses: {
        "200": "the run, cancelled",
        "409": "run_ended: the run already ended (it stays as it was)",
        ...ERRORS,
      },
    },
  },
  "/v1/runs/{runId}/report": {
    post: {
      summary:
        "Start the held-out report (exact match per task under the run's merged adapters), evaluated over the " +
        "queue and kept with the run",
      admin: true,
      params: ["runId"],
      responses: {
        "202": "{ runId, state: running, evaluated, total, tasks }",
        "200": "the finished report { runId, state, meanExactMatch, forwardPasses, tasks }",
        "409": "the run is not done, or a task has no test examples",
        ...ERRORS,
      },
    },
    get: {
      summary: "The held-out report with its progress (also in GET /v1/runs/{runId} as report)",
      admin: true,
      params: ["runId"],
      responses: {
        "200": "{ runId, state, reason, evaluated, total, meanExactMatch, forwardPasses, tasks }",
        ...ERRORS,
        "404": "no such run, or no report was started",
      },
    },
  },
  "/v1/profiles": { get: { summary: "Device profiles", admin: true, responses: { "200": "{ profiles }", ...ERRORS } } },
  "/v1/profiles/{profileId}": {
    put: {
      summary: "Create or replace a device profile (versioned)",
      admin: true,
      params: ["profileId"],
      body: ProfileSchema,
      responses: { "200": "the stored profile", ...ERRORS },
    },
    get: {
      summary:
        "A profile with its current release, cron state, the 50 most recently requested per-device task " +
        "sets, how many it has, and the reports its subset index handled and dropped",
      admin: true,
      params: ["profileId"],
      responses: {
        "200":
          "the profile with { subsets, subsetsTotal, subsetsNext, subsetReports: { handled, network_quota, " +
          "waiting_room_full } }",
        ...ERRORS,
      },
    },
    delete: {
      summary: "Delete a profile; one with releases only with ?retire=true, which stops serving them",
      admin: true,
      params: ["profileId"],
      query: ["retire"],
      responses: {
        "200": "{ deleted, retiredThrough }",
        "409": "the profile has releases and retire=true was not given",
        ...ERRORS,
      },
    },
  },
  "/v1/profiles/{profileId}/releases": {
    post: {
      summary:
        "Publish a finished run: blobs first, then the signed manifest. Publishing the run that already is the " +
        "newest release, at the same rollout, profile version and base model, makes no new version",
      admin: true,
      params: ["profileId"],
      body: PublishRequest,
      responses: {
        "201": "the new release, with unchanged: false",
        "200": "the newest release, with unchanged: true: it already is this run as asked",
        "409": "the run is not done, or tasks it was built from changed since",
        "422": "the run does not fit the profile's budget (maxAdapters; maxBytes in every offered format)",
        ...ERRORS,
      },
    },
    get: {
      summary: "Release history, newest first",
      admin: true,
      params: ["profileId"],
      responses: { "200": "{ profile, releases }", ...ERRORS },
    },
  },
  "/v1/profiles/{profileId}/rollout": {
    post: {
      summary: "Raise the newest release's rollout percentage (it never decreases: use rollback)",
      admin: true,
      params: ["profileId"],
      body: RolloutRequest,
      responses: { "200": "the release", "409": "no release, or a decrease", ...ERRORS },
    },
  },
  "/v1/profiles/{profileId}/subsets": {
    get: {
      summary: "A profile's per-device task sets, most recently requested first, a page at a time",
      admin: true,
      params: ["profileId"],
      query: ["limit", "cursor"],
      responses: { "200": "{ profile, subsets, total, next } (next: the cursor of the next page, or null)", ...ERRORS },
    },
  },
  "/v1/profiles/{profileId}/subsets/{key}/releases": {
    get: {
      summary: "A per-device task set's own release history, newest first",
      admin: true,
      params: ["profileId", "key"],
      responses: { "200": "{ profile, subset, releases }", ...ERRORS },
    },
  },
  "/v1/profiles/{profileId}/subsets/{key}/rollback": {
    post: {
      summary: "Serve an earlier release of a per-device task set again, as a new version",
      admin: true,
      params: ["profileId", "key"],
      body: RollbackRequest,
      responses: { "201": "the new release", ...ERRORS },
    },
  },
  "/v1/profiles/{profileId}/rollback": {
    post: {
      summary: "Serve an earlier release's adapters again, as a new version",
      admin: true,
      params: ["profileId"],
      body: RollbackRequest,
      responses: { "201": "the new release", ...ERRORS },
    },
  },
  "/v1/manifest": {
    get: {
      summary:
        "Device: the signed manifest for its traits (ETag, 304); with locales and apps, the release built for " +
        "its own tasks once there is one (header x-subset: its key, pending, or none)",
      query: ["device", "profile", "ramMb", "soc", "model", "os", "locales", "apps"],
      responses: {
        "200": "{ manifest, signature, keyId }",
        "304": "unchanged",
        "400": "a malformed trait or need",
        "404": "no profile or no release",
      },
    },
  },
  "/v1/adapters/{sha256}": {
    get: {
      summary: "Device: an adapter blob (immutable; Range, If-Range)",
      params: ["sha256"],
      responses: { "200": "the blob", "206": "a range of it", "416": "range not satisfiable", "404": "not found" },
    },
  },
  "/v1/keys": {
    get: {
      summary: "Device: the manifest-signing keys with their status and statements (edge copy, docs/decisions/0009)",
      responses: {
        "200":
          "{ keys: [{ keyId, algorithm, publicKey, status: current | next | previous | retired, certificate?, " +
          "retirement?, addedAt }] }",
      },
    },
  },
  "/v1/keys/next": {
    post: {
      summary: "Register a next signing key, certified by the current key",
      admin: true,
      body: NextKeyRequest,
      responses: { "201": "{ keys }", "409": "a next key exists, or this key is registered", ...ERRORS },
    },
  },
  "/v1/keys/switch": {
    post: {
      summary: "Sign with the next key from now on; re-sign every served manifest",
      admin: true,
      responses: {
        "200": "{ keys, resigned }",
        "409":
          "no next key, its private key is not in MANIFEST_SIGNING_KEY_NEXT, or that secret signs for " +
          "another key (secret_mismatch)",
        ...ERRORS,
      },
    },
  },
  "/v1/keys/{keyId}/retire": {
    post: {
      summary: "Withdraw a key that is not current (a statement signed by the current key)",
      admin: true,
      params: ["keyId"],
      responses: {
        "200": "{ keys }",
        "409": "the key is current or already retired, or still signs a served manifest (key_in_use)",
        ...ERRORS,
      },
    },
  },
  "/v1/capabilities": {
    get: {
      summary:
        "The registries: merge methods with their parameters (bounds and defaults as POST /v1/runs validates " +
        "them), release formats with their dtypes and rules, run methods, evaluators, and the defaults",
      admin: true,
      responses: {
        "200":
          "{ mergeMethods: [{ name, summary, kind, sparsification?, consensus?, projection?, unitWeight, screened, " +
          "fixedRank, parameters: [{ name, field, source, type, min, minExclusive, max, maxExclusive, range, " +
          "default?, description }] }], defaultMergeMethod, formats: [{ name, summary, source, dtype, dtypes, " +
          "sizeRule, alone, budgets }], defaultFormats, dtypes, defaultDtype, partDtypes, runMethods, " +
          "defaultRunMethod, evaluators }",
        ...ERRORS,
      },
    },
  },
  "/v1/results": {
    get: {
      summary: "The committed experiment results (docs/results.json)",
      responses: { "200": "[{ method, k, seed, meanExactMatch, meanFewShotLoss }]" },
    },
  },
};

function operation(op: Operation): object {
  const parameters = [
    ...(op.params ?? []).map((name) => ({ name, in: "path", required: true, schema: { type: "string" } })),
    ...(op.query ?? []).map((name) => ({ name, in: "query", required: false, schema: { type: "string" } })),
  ];
  const content = op.body
    ? { "application/json": { schema: z.toJSONSchema(op.body, { io: "input" }) } }
    : op.multipart
      ? {
          "multipart/form-data": {
            schema: {
              type: "object",
              required: op.multipart,
              properties: Object.fromEntries(op.multipart.map((f) => [f, { type: "string", format: "binary" }])),
            },
          },
        }
      : op.raw
        ? { [op.raw]: { schema: { type: "string" } } }
        : undefined;
  return {
    summary: op.summary,
    ...(parameters.length ? { parameters } : {}),
    ...(content ? { requestBody: { required: true, content } } : {}),
    ...(op.admin ? { security: [{ admin: [] }] } : { security: [] }),
    responses: Object.fromEntries(
      Object.entries(op.responses).map(([status, description]) => [status, { description }]),
    ),
  };
}

let document: object | undefined;

export function openApiDocument(): object {
  document ??= {
    openapi: "3.1.0",
    info: {
      title: "d2c-edge",
      version: "0.1.0",
      description:
        "Cluster, merge and ship task LoRA adapters to phones (D2C on Cloudflare Workers). Errors: { error: { " +
        "code, message } }.",
    },
    components: { securitySchemes: { admin: { type: "http", scheme: "bearer", description: "ADMIN_TOKEN" } } },
    paths: Object.fromEntries(
      Object.entries(PATHS).map(([path, ops]) => [
        path,
        Object.fromEntries(Object.entries(ops).map(([m, op]) => [m, operation(op)])),
      ]),
    ),
  };
  return document;
}

export const openapi = new Hono<{ Bindings: Env }>();
openapi.get("/", (c) => c.json(openApiDocument()));
