/** The single Catalogue Durable Object. */
export function catalogue(env: Env): DurableObjectStub<import("../../durable-objects/Catalogue").Catalogue> {
  return env.CATALOGUE.get(env.CATALOGUE.idFromName("main"));
}
