import { app } from "./api/app";
import { queue } from "./queue";
import type { QueueMessage } from "./queueMessages";
import { scheduled } from "./workflows/cron";

export { Catalogue } from "../durable-objects/Catalogue";
export { ClusterRun } from "../durable-objects/ClusterRun";
export { ClusterCache } from "../durable-objects/ClusterCache";
export { Releases } from "../durable-objects/Releases";
export { ProfileSubsets } from "../durable-objects/ProfileSubsets";
export { SubsetReleases } from "../durable-objects/SubsetReleases";

export default {
  fetch: app.fetch,
  queue,
  scheduled,
} satisfies ExportedHandler<Env, QueueMessage>;
