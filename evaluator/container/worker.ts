/**
 * The container-backed evaluator: units the main Worker's queue consumer forwards
 * (POST /v1/units, GET /healthz) go to one of INSTANCES container instances running the
 * evaluator image (./Dockerfile). The service checks EVALUATOR_SECRET itself; this Worker only
 * hands the instances their configuration. Not built or tested in this repository's CI (no
 * Docker, no Containers locally): see wrangler.toml here for deployment.
 */
import { Container, getRandom } from "@cloudflare/containers";

interface Env {
  EVALUATOR: DurableObjectNamespace<EvaluatorContainer>;
  EVALUATOR_SECRET: string;
  D2C_WORKER_URL: string;
  INSTANCES: string;
}

export class EvaluatorContainer extends Container<Env> {
  defaultPort = 8788;
  // A model is cached on the instance's disk and loaded in its memory: keep it warm between runs.
  sleepAfter = "15m";
  pingEndpoint = "localhost/healthz";

  // biome-ignore lint/complexity/noBannedTypes: Container's own constructor signature, props-less.
  constructor(ctx: DurableObjectState<{}>, env: Env) {
    super(ctx, env);
    this.envVars = { EVALUATOR_SECRET: env.EVALUATOR_SECRET, D2C_WORKER_URL: env.D2C_WORKER_URL };
  }
}

export default {
  async fetch(request, env) {
    const instance = await getRandom(env.EVALUATOR, Number(env.INSTANCES) || 1);
    return instance.fetch(request);
  },
} satisfies ExportedHandler<Env>;
