/**
 * Answers of the data routes, and their HTTP caching, in one place: every projection's route
 * hands its service's answer to `json` (or `jsonOrText`), which sends the flag headers
 * (completeness.ts), the validators, and the body or a 304.
 *
 * - `ETag`: a strong tag of the body as sent (cache.ts `etagOf`), hashed once per rendered answer
 *   (`Rendered.etag`, and the text form's tag beside it), so a request costs a header lookup, not
 *   a hash. The flag is in the JSON body, and in the text form's tag, so a tag never outlives a
 *   change of `complete`: a 304 cannot confirm a stale `complete: true`.
 * - `If-None-Match` naming the current tag (weak comparison), or `*`, answers 304 with no body,
 *   and the same ETag, Cache-Control, Vary and flag headers as the 200 would carry (RFC 9110
 *   §13.1.2, §15.4.5).
 * - `Cache-Control`: `max-age=0, must-revalidate` on a complete answer (any cache may keep it, and
 *   asks again before each reuse: a cheap 304 while it holds); `no-cache` on an incomplete one.
 * - `Vary`: `Origin` when CORS lists origins (app.ts), `Accept` where Accept picked the format.
 *
 * The body is a string with its content type, not a `Response`: Elysia rebuilds a returned
 * Response around its body stream whenever the request has headers to add (CORS adds some to
 * every one), which costs more than the route itself. And no `response` schema on these routes:
 * Elysia would check the text against it. The routes document their bodies with `responses(...)`
 * (openapi.ts) from the same TypeBox models the services' types come from, and the tests check
 * every body against the contract.
 */
import { etagOf, type Rendered } from "./cache.ts";
import { FLAG_HEADERS, type Flag, flagHeaders } from "./completeness.ts";
import { NotFoundError } from "./errors.ts";
import { wantsText } from "./params.ts";

export const JSON_TYPE = "application/json; charset=utf-8";
export const TEXT_TYPE = "text/plain; charset=utf-8";

/** Cache-Control of a complete answer: stored, and revalidated before every reuse. */
export const COMPLETE_CACHE = "max-age=0, must-revalidate";
/** Cache-Control of an incomplete answer. */
export const INCOMPLETE_CACHE = "no-cache";

/** Elysia's `set` (its status only written). */
type Set = { headers: Record<string, unknown>; status?: unknown };

const cacheControl = (flag: Flag) => (flag.complete ? COMPLETE_CACHE : INCOMPLETE_CACHE);

/** One element of an If-None-Match list: optional whitespace, an entity tag (weak or not), then a comma or the end. */
const LIST_TAG = /[ \t]*(?:W\/)?("[\x21\x23-\x7e\x80-\xff]*")[ \t]*(?:,|$)/y;
const EMPTY_ELEMENT = /[ \t]*,/y;

/**
 * Whether an If-None-Match field value matches `etag`: `*`, or a list naming it, weak tags
 * compared by their opaque part (RFC 9110 §13.1.2, §8.8.3.2). A value that does not parse
 * matches nothing, so the client gets the whole answer.
 */
export function noneMatch(field: string | null, etag: string): boolean {
  if (!field) return false;
  if (field.trim() === "*") return true;
  let at = 0;
  while (at < field.length) {
    EMPTY_ELEMENT.lastIndex = at;
    if (EMPTY_ELEMENT.test(field)) {
      at = EMPTY_ELEMENT.lastIndex;
      continue;
    }
    LIST_TAG.lastIndex = at;
    const m = LIST_TAG.exec(field);
    if (!m) return false;
    if (m[1] === etag) return true;
    at = LIST_TAG.lastIndex;
  }
  return false;
}

/** Adds a request header the answer depends on to `Vary` (after CORS's `Origin`, if any). */
function vary(set: Set, header: string): void {
  const now = set.headers.vary;
  if (now === "*") return;
  set.headers.vary = now ? `${now}, ${header}` : header;
}

/** Sends one representation of an answer: its flag and validators, then its body, or a 304 when the client holds it. */
function send(set: Set, request: Request, flag: Flag, etag: string, type: string, body: string): string {
  flagHeaders(set, flag);
  set.headers.etag = etag;
  set.headers["cache-control"] = cacheControl(flag);
  if (noneMatch(request.headers.get("if-none-match"), etag)) {
    set.status = 304;
    return "";
  }
  set.headers["content-type"] = type;
  return body;
}

/**
 * Awaits a service's answer. A 404 that carries a flag (/transactions/{hash}) leaves through the
 * error handler (errors.ts) with the same caching headers and the tag of the body it sends; it is
 * never a 304, since a server ignores preconditions when its answer would not be a 2xx (RFC 9110
 * §13.2.1).
 */
async function answered<T>(set: Set, answer: Promise<T> | T): Promise<T> {
  try {
    return await answer;
  } catch (err) {
    if (err instanceof NotFoundError && err.flag) {
      set.headers.etag = etagOf(JSON.stringify({ error: err.code, message: err.message, ...err.flag }));
      set.headers["cache-control"] = cacheControl(err.flag);
    }
    throw err;
  }
}

/** A data answer as JSON. */
export async function json(set: Set, request: Request, answer: Promise<Rendered<Flag>> | Rendered<Flag>): Promise<string> {
  const body = await answered(set, answer);
  return send(set, request, body.value, body.etag, JSON_TYPE, body.json);
}

/** The text form of each rendered answer that was asked as text, with its tag (the flag included: the text does not carry it). */
const texts = new WeakMap<Rendered<Flag>, { text: string; etag: string }>();

/**
 * A data answer as JSON, or as `table(value)` in plain text when the client asked for it
 * (`?format=text`, or `Accept: text/plain` before JSON: params.ts `wantsText`). Without
 * `?format`, Accept picks the format, and the answer says so with `Vary: Accept`. The text and
 * its tag are made once per rendered answer.
 */
export async function jsonOrText<T extends Flag>(
  set: Set,
  request: Request,
  answer: Promise<Rendered<T>> | Rendered<T>,
  format: string | undefined,
  table: (value: T) => string,
): Promise<string> {
  const body = await answered(set, answer);
  if (format === undefined) vary(set, "Accept");
  if (!wantsText(format, request.headers.get("accept"))) return send(set, request, body.value, body.etag, JSON_TYPE, body.json);
  let shown = texts.get(body);
  if (!shown) {
    const text = table(body.value);
    const { complete, incomplete_reason } = body.value;
    shown = { text, etag: etagOf(`${JSON.stringify({ complete, incomplete_reason })}\n${text}`) };
    texts.set(body, shown);
  }
  return send(set, request, body.value, shown.etag, TEXT_TYPE, shown.text);
}

/** The headers of every data answer, for the OpenAPI `headers` of its 200 (and of a data 404): the flag's and the caching ones. */
export const ANSWER_HEADERS = {
  ...FLAG_HEADERS,
  ETag: {
    description:
      "a strong tag of the body as sent, its flag included; send it back in `If-None-Match` for a 304 without a body while the answer is the same " +
      "(never on a 404, which is answered in full)",
    schema: { type: "string" },
  },
  "Cache-Control": {
    description: `\`${COMPLETE_CACHE}\` when the answer is complete, \`${INCOMPLETE_CACHE}\` when not: a cache may keep it, and revalidates it before each reuse`,
    schema: { type: "string", enum: [COMPLETE_CACHE, INCOMPLETE_CACHE] },
  },
  Vary: {
    description: "`Origin` when CORS_ORIGIN lists origins (none with `*`); `Accept` where it picks the format (the minute table without `?format`)",
    schema: { type: "string" },
  },
};
