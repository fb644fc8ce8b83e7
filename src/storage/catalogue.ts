import { counted } from "./objectStubs";
/** The single Catalogue Durable Object. */
export function catalogue(env: Env): DurableObjectStub<import("../../durable-objects/Catalogue").Catalogue> {
  return counted(env.CATALOGUE.get(env.CATALOGUE.idFromName("main")));
}
