// @ts-check
/** The console's calls to the Worker: the admin token from this browser's storage, errors shown once. */

const TOKEN_KEY = "d2c-edge.adminToken";

export function adminToken() {
  return localStorage.getItem(TOKEN_KEY) ?? "";
}

/** @param {string} token */
export function setAdminToken(token) {
  localStorage.setItem(TOKEN_KEY, token);
}

/** How long a refusal stays on screen unless something clears it first. */
const ERROR_MS = 6000;
let errorTimer = 0;
/**
 * What the banner shows: a refusal of the token, or of one request (method and path).
 * @type {{ token: boolean, request: string } | null}
 */
let shown = null;

/**
 * Shows `message` in the red banner for ERROR_MS; a newer message restarts the time.
 * @param {string} message @param {{ token?: boolean, request?: string }} [cause]
 */
export function showError(message, cause = {}) {
  const bar = /** @type {HTMLElement} */ (document.getElementById("error"));
  bar.textContent = message;
  bar.hidden = false;
  shown = { token: cause.token ?? false, request: cause.request ?? "" };
  clearTimeout(errorTimer);
  errorTimer = setTimeout(clearError, ERROR_MS);
}

export function clearError() {
  clearTimeout(errorTimer);
  shown = null;
  /** @type {HTMLElement} */ (document.getElementById("error")).hidden = true;
}

/**
 * A success clears the banner when it answers what the banner said: any success once the token was
 * refused (the token works now), else a success of the very request that was refused (a retry worked).
 * Another request's success leaves it, so a refused POST stays readable while the page refreshes itself.
 * @param {string} request
 */
function succeeded(request) {
  if (shown && (shown.token || shown.request === request)) clearError();
}

/**
 * JSON from an admin route; a 4xx/5xx becomes an Error carrying the server's message.
 * @param {string} path
 * @param {RequestInit} [init]
 * @returns {Promise<any>}
 */
export async function api(path, init = {}) {
  const response = await fetch(path, {
    ...init,
    headers: { authorization: `Bearer ${adminToken()}`, ...(init.body ? { "content-type": "application/json" } : {}) },
  });
  const body = await response.json().catch(() => null);
  const request = `${init.method ?? "GET"} ${path}`;
  if (!response.ok) {
    const message = body?.error?.message ?? `${response.status} ${response.statusText}`;
    showError(`${path}: ${message}`, { token: response.status === 401, request });
    throw new Error(message);
  }
  succeeded(request);
  return body;
}

/** @type {Promise<any> | undefined} */
let capabilitiesOnce;

/**
 * GET /v1/capabilities, once per page load (the registries change only with a deploy): the merge
 * methods, formats and run methods the forms offer, so the console keeps no list of its own.
 * @returns {Promise<any>}
 */
export function capabilities() {
  capabilitiesOnce ??= api("/v1/capabilities").catch((e) => {
    capabilitiesOnce = undefined; // a wrong token now is no reason to fail after it is fixed
    throw e;
  });
  return capabilitiesOnce;
}

/** @type {Promise<any> | undefined} */
let runRequestOnce;

/**
 * The JSON schema of POST /v1/runs' body, from the OpenAPI document (generated from the zod schema
 * that validates the request): the run form's tune and restart options, their bounds and defaults.
 * @returns {Promise<any>}
 */
export function runRequestSchema() {
  runRequestOnce ??= fetch("/openapi.json")
    .then((r) => (r.ok ? r.json() : Promise.reject(new Error(`/openapi.json: ${r.status}`))))
    .then((doc) => doc.paths["/v1/runs"].post.requestBody.content["application/json"].schema)
    .catch((e) => {
      runRequestOnce = undefined;
      throw e;
    });
  return runRequestOnce;
}

/**
 * Server-sent events over fetch (EventSource cannot send an Authorization header).
 * @param {string} path
 * @param {(type: string, data: any) => void} onEvent
 * @param {AbortSignal} signal
 */
export async function streamEvents(path, onEvent, signal) {
  const response = await fetch(path, { headers: { authorization: `Bearer ${adminToken()}` }, signal });
  if (!response.ok || !response.body) return;
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const frame = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const type = /^event: (.*)$/m.exec(frame)?.[1] ?? "message";
      const data = /^data: (.*)$/m.exec(frame)?.[1];
      onEvent(type, data ? JSON.parse(data) : null);
    }
  }
}

/**
 * One iteration's loss matrix, read a page of tasks at a time from `GET /v1/runs/:id/losses`
 * (the run's summary leaves it out): losses and assignment by task id.
 * @param {string} runId
 * @param {number} iteration
 * @returns {Promise<{ losses: Record<string, (number | null)[]>, assignment: Record<string, number> }>}
 */
export async function lossMatrix(runId, iteration) {
  /** @type {Record<string, (number | null)[]>} */
  const losses = {};
  /** @type {Record<string, number>} */
  const assignment = {};
  const limit = 500;
  for (let offset = 0; ; offset += limit) {
    const page = await api(`/v1/runs/${runId}/losses?iteration=${iteration}&offset=${offset}&limit=${limit}`);
    for (const row of page.rows) {
      losses[row.task] = row.losses;
      assignment[row.task] = row.cluster;
    }
    if (offset + limit >= page.total) return { losses, assignment };
  }
}
