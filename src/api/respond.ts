/**
 * Answers of the data routes: the JSON text their service rendered (and cached) once, sent as a
 * string with its content type.
 *
 * Not a `Response`: Elysia rebuilds a returned Response around its body stream whenever the
 * request has headers to add (CORS adds some to every one), which costs more than the route
 * itself. And no `response` schema on these routes: Elysia would check the text against it. The
 * routes document their bodies with `responses(...)` (openapi.ts) from the same TypeBox models
 * the services' types come from, and the tests check every body against the contract.
 */
import type { Rendered } from "./cache.ts";

export const JSON_TYPE = "application/json; charset=utf-8";
export const TEXT_TYPE = "text/plain; charset=utf-8";

type Set = { headers: Record<string, unknown> };

export function json(set: Set, body: Rendered<unknown>): string {
  set.headers["content-type"] = JSON_TYPE;
  return body.json;
}

export function text(set: Set, body: string): string {
  set.headers["content-type"] = TEXT_TYPE;
  return body;
}
