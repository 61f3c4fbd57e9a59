/**
 * One error handler for the whole API, and the domain errors the services throw.
 *
 * Every error leaves as JSON `{ "error": "<code>", "message": "<what was wrong, what is allowed>" }`:
 * validation failures (422), unknown routes and unknown transactions (404), too many requests
 * (429, with Retry-After), Redis unreachable (503). Nothing else reaches the client: driver
 * messages, host:port pairs and connection strings are logged (rate-limited), never sent; an
 * unexpected error is logged and answered with a generic 500 body, never a stack trace.
 */
import { Elysia, t, ValidationError } from "elysia";
import type { Logger } from "../domain/log.ts";
import { type Flag, flagHeaders } from "./completeness.ts";

export const ErrorBody = t.Object(
  {
    error: t.String({ description: "machine-readable code: validation_failed, not_found, bad_request, rate_limited, unavailable or internal" }),
    message: t.String({ description: "what was wrong and what is allowed" }),
  },
  { title: "Error" },
);
export type ErrorBody = typeof ErrorBody.static;

/** A failure the client can act on; mapped to `status` by the error handler. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    /** Seconds, sent as Retry-After. */
    readonly retryAfter?: number,
    /** What went wrong underneath (a driver's message): logged, never sent. */
    readonly detail?: string,
  ) {
    super(message);
    this.name = "ApiError";
  }
}

export class NotFoundError extends ApiError {
  constructor(
    message: string,
    /** Whether the answer is final (a data route's 404): sent in the body and the headers. */
    readonly flag?: Flag,
  ) {
    super(404, "not_found", message);
  }
}

export class UnavailableError extends ApiError {
  constructor(message: string, detail?: string, retryAfter?: number) {
    super(503, "unavailable", message, retryAfter, detail);
  }
}

export class TooManyRequestsError extends ApiError {
  constructor(message: string, retryAfter: number) {
    super(429, "rate_limited", message, Math.max(1, Math.ceil(retryAfter)));
  }
}

/** An error's message, for the log only. */
export const detailOf = (err: unknown): string => (err instanceof Error ? err.message : String(err));

/** Where a validation error happened, as the client wrote it: `min_value`, `query parameter limit`. */
function where(type: string, path: string): string {
  const name = path.replace(/^\//, "").replaceAll("/", ".");
  if (!name) return type === "params" ? "path parameter" : `${type}`;
  if (type === "params") return `path parameter ${name}`;
  if (type === "query") return `query parameter ${name}`;
  return `${type} ${name}`;
}

/**
 * "query parameter limit must be an integer from 1 to 1000; got \"abc\"": the schema's
 * `description` says what is allowed, so the message and the OpenAPI document never disagree.
 */
export function validationMessage(error: ValidationError): string {
  const first = error.valueError;
  if (!first) return `invalid ${error.type}`;
  const schema = first.schema as { description?: string };
  const allowed = schema.description ?? first.message;
  const got = first.value === undefined ? "nothing" : JSON.stringify(first.value);
  return `${where(error.type, first.path)} must be ${allowed}; got ${got}`;
}

/** Statuses Elysia itself raises for requests it cannot route or parse. */
const ELYSIA_CODES: Record<string, { status: number; code: string }> = {
  NOT_FOUND: { status: 404, code: "not_found" },
  PARSE: { status: 400, code: "bad_request" },
  INVALID_COOKIE_SIGNATURE: { status: 400, code: "bad_request" },
  INVALID_FILE_TYPE: { status: 400, code: "bad_request" },
};

export const errorHandler = (log: Logger) =>
  new Elysia({ name: "api/errors" }).onError({ as: "global" }, function apiErrors({ code, error, request, set }) {
    // set.status (not a Response of our own) so that later hooks (request metrics) see the status.
    const json = (status: number, body: ErrorBody & Partial<Flag>) => {
      set.status = status;
      set.headers["content-type"] = "application/json; charset=utf-8";
      return body;
    };
    if (error instanceof ApiError) {
      if (error.detail) log.limited(`api ${error.code} ${error.message}`, "warn", error.message, { detail: error.detail });
      if (error.retryAfter !== undefined) set.headers["retry-after"] = String(error.retryAfter);
      if (error instanceof NotFoundError && error.flag) {
        flagHeaders(set, error.flag);
        return json(error.status, { error: error.code, message: error.message, ...error.flag });
      }
      return json(error.status, { error: error.code, message: error.message });
    }
    if (error instanceof ValidationError && error.type !== "response") return json(422, { error: "validation_failed", message: validationMessage(error) });
    const known = ELYSIA_CODES[String(code)];
    if (known) {
      // Not always a URL: `CONNECT host:port` carries an authority, which is not echoed.
      const pathname = URL.canParse(request.url) ? new URL(request.url).pathname : "(a target that is not a path)";
      const message = code === "NOT_FOUND" ? `no route ${request.method} ${pathname}; see /swagger for the routes this API serves` : "the request could not be read";
      return json(known.status, { error: known.code, message });
    }
    log.error("unhandled error", { method: request.method, url: request.url, error: error instanceof Error ? error.message : String(error) });
    return json(500, { error: "internal", message: "internal error; it has been logged" });
  });
