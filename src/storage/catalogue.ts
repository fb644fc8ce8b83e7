import { counted } from "./objectStubs";
/** The single Catalogue Durable Object. */
export function catalogue(env: Env) {
  return counted(env.CATALOGUE.get(env.CATALOGUE.idFromName("main")));
}
