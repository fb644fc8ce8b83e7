/** The single Catalogue Durable Object (its stub typed from Env, so no object file is imported). */
export function catalogue(env: Env) {
  return env.CATALOGUE.get(env.CATALOGUE.idFromName("main"));
}
