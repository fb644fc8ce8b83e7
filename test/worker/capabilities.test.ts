/**
 * GET /v1/capabilities answers the registries (src/adapters/merge/registry.ts, src/delivery/formats.ts)
 * as the API enforces them: every parameter a method lists is bounded exactly as POST /v1/runs
 * refuses it, every format as PUT /v1/profiles takes it. The catalogue is empty, so a request that
 * passes validation stops at 409 no_tasks and no run starts.
 */
import { exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { MERGE_METHODS } from "../../src/adapters/merge/registry";
import { ADAPTER_FORMATS } from "../../src/delivery/formats";
import { RUN_METHODS } from "../../src/runs/config";
import { call } from "./api";

interface Parameter {
  name: string;
  field: string;
  source: "request" | "run";
  type: "number" | "integer";
  min: number;
  minExclusive: boolean;
  max: number;
  maxExclusive: boolean;
  default?: number;
}
interface Capabilities {
  mergeMethods: { name: string; parameters: Parameter[]; unitWeight: string; screened: boolean }[];
  defaultMergeMethod: string;
  formats: { name: string; dtypes: string[]; alone: boolean; budgets: string[]; sizeRule: string }[];
  defaultFormats: string[];
  runMethods: string[];
  defaultRunMethod: string;
}
type ErrorBody = { error: { code: string; message: string } };

const capabilities = async () => (await (await call("/v1/capabilities")).json()) as Capabilities;

/** A run request setting `field` (merge.<name> or a top-level one) to `value`. */
function runWith(method: string, field: string, value: number): object {
  const [outer, inner] = field.split(".");
  return inner === undefined
    ? { k: 1, merge: { method }, [outer]: value }
    : { k: 1, merge: { method, [inner]: value } };
}

const postRun = (body: object) => call("/v1/runs", { method: "POST", body: JSON.stringify(body) });

describe("GET /v1/capabilities", () => {
  it("is an operator route: no token is 401", async () => {
    const refused = await exports.default.fetch(new Request("http://d2c.test/v1/capabilities"));
    expect(refused.status).toBe(401);
    expect(((await refused.json()) as ErrorBody).error.code).toBe("unauthorized");
    const wrong = await call("/v1/capabilities", { headers: { authorization: "Bearer not-the-token" } });
    expect(wrong.status).toBe(401);
  });

  it("lists every merge method, format and run method, with the defaults requests get", async () => {
    const c = await capabilities();
    expect(c.mergeMethods.map((m) => m.name)).toEqual(MERGE_METHODS);
    expect(c.formats.map((f) => f.name)).toEqual(ADAPTER_FORMATS);
    expect(c.runMethods).toEqual(RUN_METHODS);
    expect([c.defaultMergeMethod, c.defaultRunMethod, c.defaultFormats]).toEqual(["svd", "d2c", ["peft"]]);
    const ties = c.mergeMethods.find((m) => m.name === "ties_svd")!;
    expect(ties).toMatchObject({
      kind: "taskArithmetic",
      sparsification: "magnitude",
      consensus: "ties",
      unitWeight: "1",
    });
    expect(ties.parameters.map((p) => p.name)).toEqual(["density", "rank"]);
    const dare = c.mergeMethods.find((m) => m.name === "dare_ties_svd")!;
    expect(dare.parameters.at(-1)).toMatchObject({ name: "seed", field: "seed" });
    expect(c.formats.find((f) => f.name === "parts")).toMatchObject({ alone: true, budgets: ["maxBytes"] });
    expect(c.formats.find((f) => f.name === "onnx_adapter")!.dtypes).toEqual(["fp32"]);
    // No implementation leaks into the JSON.
    expect(JSON.stringify(c)).not.toMatch(/=>|function/);
  });

  it("refuses every parameter a method lists past its bounds (POST /v1/runs names it), takes it at them", async () => {
    const c = await capabilities();
    let checked = 0;
    for (const method of c.mergeMethods) {
      for (const p of method.parameters) {
        const step = p.type === "integer" ? 1 : 1e-9;
        const outside = [p.minExclusive ? p.min : p.min - step, p.maxExclusive ? p.max : p.max + step];
        if (p.type === "integer") outside.push(p.min + 0.5);
        for (const value of outside) {
          const refused = await postRun(runWith(method.name, p.field, value));
          expect(refused.status, `${method.name} ${p.field}=${value}`).toBe(400);
          const { message } = ((await refused.json()) as ErrorBody).error;
          expect(message, `${method.name} ${p.field}=${value}`).toContain(`${p.field}:`);
          checked++;
        }
        const inside = [p.minExclusive ? p.min + step : p.min, p.maxExclusive ? p.max - step : p.max];
        for (const value of inside) {
          const taken = await postRun(runWith(method.name, p.field, p.type === "integer" ? Math.round(value) : value));
          // Past validation: the empty catalogue is what stops it.
          expect(((await taken.json()) as ErrorBody).error.code, `${method.name} ${p.field}=${value}`).toBe("no_tasks");
        }
      }
    }
    expect(checked).toBeGreaterThan(10);
  });

  it("every format is one PUT /v1/profiles takes, and one that ships alone is refused beside another", async () => {
    const c = await capabilities();
    const put = (formats: string[], budget: object) =>
      call("/v1/profiles/caps", {
        method: "PUT",
        body: JSON.stringify({ modelId: "d2c-char-lm", budget, formats }),
      });
    for (const f of c.formats) {
      const budget = f.budgets.includes("maxAdapters") ? { maxAdapters: 2 } : { maxBytes: 100_000 };
      const answer = await put([f.name], budget);
      expect(answer.status, `${f.name}: ${await answer.clone().text()}`).not.toBe(400);
      if (!f.alone) continue;
      const other = c.formats.find((o) => !o.alone)!.name;
      const refused = await put([f.name, other], { maxBytes: 100_000 });
      expect(refused.status).toBe(400);
      expect(((await refused.json()) as ErrorBody).error.message).toContain(`${f.name} is a release of its own`);
    }
    const unknown = await put(["tflite"], { maxAdapters: 2 });
    expect(unknown.status).toBe(400);
    expect(((await unknown.json()) as ErrorBody).error.message).toMatch(/^formats\.0: /);
  });
});
