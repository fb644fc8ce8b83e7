/** The OpenAPI document is generated from the request schemas and covers every route the Worker serves. */
import { exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { app } from "../../src/api/app";

type Doc = {
  openapi: string;
  paths: Record<
    string,
    Record<
      string,
      {
        requestBody?: {
          content: Record<string, { schema: { properties?: Record<string, unknown>; required?: string[] } }>;
        };
      }
    >
  >;
};

describe("GET /openapi.json", () => {
  it("lists every route of the app, without a token", async () => {
    const response = await exports.default.fetch(new Request("http://d2c.test/openapi.json"));
    expect(response.status).toBe(200);
    const doc = (await response.json()) as Doc;
    expect(doc.openapi).toBe("3.1.0");
    const served = app.routes
      .filter((r) => r.method !== "ALL" && r.path.startsWith("/v1"))
      .map((r) => `${r.method.toLowerCase()} ${r.path.replace(/:(\w+)/g, "{$1}").replace(/\/$/, "")}`);
    const documented = Object.entries(doc.paths).flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m} ${path}`));
    expect(new Set(served).size).toBeGreaterThan(20); // the routers are mounted: the check is not vacuous
    for (const route of new Set(served)) {
      if (route.startsWith("head ")) continue; // HEAD is GET's twin
      expect(documented).toContain(route);
    }
  });

  it("describes request bodies from the zod schemas that validate them", async () => {
    const doc = (await (await exports.default.fetch(new Request("http://d2c.test/openapi.json"))).json()) as Doc;
    const run = doc.paths["/v1/runs"].post.requestBody!.content["application/json"].schema;
    expect(Object.keys(run.properties!)).toEqual(
      expect.arrayContaining(["k", "budget", "profile", "method", "merge", "seed", "maxIterations", "tasks"]),
    );
    const profile = doc.paths["/v1/profiles/{profileId}"].put.requestBody!.content["application/json"].schema;
    expect(profile.required).toEqual(expect.arrayContaining(["modelId", "budget"]));
  });
});
