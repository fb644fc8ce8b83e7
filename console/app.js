// @ts-check
/** The operator console: a hash router over a few views; everything else talks to /v1. */
import { adminToken, setAdminToken } from "./api-client.js";
import { renderCatalogue } from "./views/catalogue.js";
import { renderProfiles } from "./views/profiles.js";
import { renderResults } from "./views/results.js";
import { renderRun } from "./views/run.js";
import { renderRuns } from "./views/runs.js";

const view = /** @type {HTMLElement} */ (document.getElementById("view"));
const tokenInput = /** @type {HTMLInputElement} */ (document.getElementById("token"));
/** Aborts the previous view's live work (an open event stream) when the view changes. */
let leaving = new AbortController();

async function route() {
  leaving.abort();
  leaving = new AbortController();
  const [name, arg] = (location.hash.slice(1) || "catalogue").split("/");
  for (const a of document.querySelectorAll("nav a")) a.classList.toggle("active", a.getAttribute("href") === `#${name === "run" ? "runs" : name}`);
  if (!adminToken()) {
    view.innerHTML = "<h2>Admin token</h2><p>Enter the admin token (locally: <code>ADMIN_TOKEN</code> in <code>.dev.vars</code>) above.</p>";
    return;
  }
  const views = { catalogue: renderCatalogue, runs: renderRuns, run: renderRun, profiles: renderProfiles, results: renderResults };
  const render = views[/** @type {keyof typeof views} */ (name)] ?? renderCatalogue;
  view.innerHTML = "<p class=muted>Loading...</p>";
  await render(view, arg ?? "", leaving.signal).catch((e) => (view.innerHTML = `<p class=muted>${e instanceof Error ? e.message : e}</p>`));
}

document.getElementById("token-form")?.addEventListener("submit", (event) => {
  event.preventDefault();
  setAdminToken(tokenInput.value.trim());
  tokenInput.value = "";
  void route();
});
addEventListener("hashchange", () => void route());
void route();
