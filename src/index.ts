import { app } from "./api/app";

export { Catalogue } from "../durable-objects/Catalogue";

export default {
  fetch: app.fetch,
} satisfies ExportedHandler<Env>;
