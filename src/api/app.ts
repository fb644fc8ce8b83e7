import { Hono } from "hono";
import results from "../../docs/results.json";
import { capabilities } from "./capabilities";
import { renderError } from "./errors";
import { devices } from "./devices";
import { evaluate } from "./evaluate";
import { evaluatorObjects } from "./evaluatorObjects";
import { modelUploads } from "./modelUploads";
import { keys } from "./keys";
import { models } from "./models";
import { openapi } from "./openapi";
import { profiles } from "./profiles";
import { runs } from "./runs";
import { tasks } from "./tasks";

export const app = new Hono<{ Bindings: Env }>();

app.route("/v1/models", models);
app.route("/v1/models", modelUploads);
app.route("/v1/tasks", tasks);
app.route("/v1/evaluate", evaluate);
app.route("/v1/evaluator/objects", evaluatorObjects);
app.route("/v1/runs", runs);
app.route("/v1/profiles", profiles);
app.route("/v1/keys", keys);
app.route("/v1/capabilities", capabilities);
app.route("/v1", devices);
app.route("/openapi.json", openapi);
// The committed experiment results, for the console's score-versus-storage plot.
app.get("/v1/results", (c) => c.json(results));
app.notFound((c) => c.json({ error: { code: "not_found", message: `no route ${c.req.method} ${c.req.path}` } }, 404));
app.onError(renderError);
