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

/** @param {string} message */
export function showError(message) {
  const bar = /** @type {HTMLElement} */ (document.getElementById("error"));
  bar.textContent = message;
  bar.hidden = false;
  setTimeout(() => (bar.hidden = true), 6000);
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
  if (!response.ok) {
    const message = body?.error?.message ?? `${response.status} ${response.statusText}`;
    showError(`${path}: ${message}`);
    throw new Error(message);
  }
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
