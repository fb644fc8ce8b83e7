// @ts-check
/** The operator console: a hash router over a few views; everything else talks to /v1. */
import { adminToken, setAdminToken } from "./api-client.js";
import { h, note } from "./dom.js";
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
  for (const a of document.querySelectorAll("nav a"))
    a.classList.toggle("active", a.getAttribute("href") === `#${name === "run" ? "runs" : name}`);
  if (!adminToken()) {
    view.replaceChildren(
      h("h2", null, "Admin token"),
      h(
        "p",
        null,
        "Enter the admin token (locally: ",
        h("code", null, "ADMIN_TOKEN"),
        " in ",
        h("code", null, ".dev.vars"),
        ") above.",
      ),
    );
    return;
  }
  const views = {
    catalogue: renderCatalogue,
    runs: renderRuns,
    run: renderRun,
    profiles: renderProfiles,
    results: renderResults,
  };
  const render = views[/** @type {keyof typeof views} */ (name)] ?? renderCatalogue;
  view.replaceChildren(note("Loading..."));
  // The message is the server's, and may echo what was asked for (an id from the URL): text only.
  await render(view, arg ?? "", leaving.signal).catch((e) =>
    view.replaceChildren(note(e instanceof Error ? e.message : String(e))),
  );
}

document.getElementById("token-form")?.addEventListener("submit", (event) => {
  event.preventDefault();
  setAdminToken(tokenInput.value.trim());
  tokenInput.value = "";
  void route();
});
addEventListener("hashchange", () => void route());
void route();
