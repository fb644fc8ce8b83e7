/**
 * The Worker's HTTP API as the CLI calls it: base URL and admin token resolved once, every
 * failure turned into one line that carries the server's own `{ error: { code, message } }`.
 */
import { existsSync, readFileSync } from "node:fs";
import { CliError } from "./errors.ts";

export const DEFAULT_URL = "http://127.0.0.1:8787";

/** A 4xx/5xx answer: `status` and the server's `code`, and its message as the error's message. */
export class HttpError extends CliError {
  readonly status: number;
  readonly code: string;
  readonly reason: string;

  constructor(status: number, code: string, reason: string, what: string) {
    super(`${what}: ${status} ${code}: ${reason}`);
    this.status = status;
    this.code = code;
    this.reason = reason;
  }
}

export interface Api {
  readonly url: string;
  /** Sends the request (with the admin token unless `admin` is false) and throws HttpError unless 2xx. */
  send(
    method: string,
    path: string,
    init?: { body?: RequestInit["body"]; json?: unknown; admin?: boolean; headers?: Record<string, string> },
  ): Promise<Response>;
  /** `send`, then the JSON body. */
  json<T>(
    method: string,
    path: string,
    init?: { json?: unknown; body?: RequestInit["body"]; admin?: boolean },
  ): Promise<T>;
}

/** ADMIN_TOKEN from ./.dev.vars (dotenv syntax, as `npm start` writes it), if there is one. */
export function devVarsToken(): string | undefined {
  if (!existsSync(".dev.vars")) return undefined;
  const value = /^ADMIN_TOKEN=(.*)$/m.exec(readFileSync(".dev.vars", "utf8"))?.[1]?.trim();
  return value?.replace(/^(['"])(.*)\1$/, "$2") || undefined;
}

export function connect(url?: string, token?: string): Api {
  const base = (url ?? process.env.D2C_URL ?? DEFAULT_URL).replace(/\/+$/, "");
  if (!/^https?:\/\/[^/]/.test(base)) throw new CliError(`--url must be an http(s) URL, got ${JSON.stringify(base)}`);
  let resolved: string | undefined | null = token ?? process.env.D2C_TOKEN ?? null;
  const adminToken = () => (resolved === null ? (resolved = devVarsToken()) : resolved);

  const send: Api["send"] = async (method, path, init = {}) => {
    const headers: Record<string, string> = { ...init.headers };
    const bearer = init.admin === false ? undefined : adminToken();
    if (bearer) headers.authorization = `Bearer ${bearer}`;
    let body = init.body;
    if (init.json !== undefined) {
      body = JSON.stringify(init.json);
      headers["content-type"] = "application/json";
    }
    let response: Response;
    try {
      response = await fetch(base + path, { method, headers, body });
    } catch (e) {
      const cause =
        (e as { cause?: { message?: string } }).cause?.message ?? (e instanceof Error ? e.message : String(e));
      throw new CliError(`cannot reach ${base}: ${cause}`);
    }
    if (response.ok) return response;
    throw await httpError(response, `${method} ${path}`, init.admin !== false && !bearer);
  };

  return {
    url: base,
    send,
    async json<T>(
      method: string,
      path: string,
      init?: { json?: unknown; body?: RequestInit["body"]; admin?: boolean },
    ) {
      return (await (await send(method, path, init)).json()) as T;
    },
  };
}

async function httpError(response: Response, what: string, missingToken: boolean): Promise<HttpError> {
  const text = await response.text();
  let code = "http_error";
  let reason = text.slice(0, 200).trim() || response.statusText;
  try {
    const error = (JSON.parse(text) as { error?: { code?: string; message?: string } }).error;
    if (error?.message) {
      code = error.code ?? code;
      reason = error.message;
    }
  } catch {
    // not the Worker's JSON error body (a proxy, a crash page): keep the text
  }
  if (response.status === 401 && missingToken)
    reason += " (no token: pass --token, set D2C_TOKEN, or run where ./.dev.vars has ADMIN_TOKEN)";
  return new HttpError(response.status, code, reason, what);
}
