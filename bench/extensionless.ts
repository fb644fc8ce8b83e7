/**
 * `node --import ./bench/extensionless.ts`: lets Node load src/, whose imports have no extension
 * (the Workers bundler resolves them): a relative specifier that is not found is retried as `.ts`.
 */
import { registerHooks } from "node:module";

registerHooks({
  resolve(specifier, context, nextResolve) {
    try {
      return nextResolve(specifier, context);
    } catch (e) {
      if ((e as { code?: string }).code !== "ERR_MODULE_NOT_FOUND" || !/^\.\.?\//.test(specifier)) throw e;
      return nextResolve(`${specifier}.ts`, context);
    }
  },
});
