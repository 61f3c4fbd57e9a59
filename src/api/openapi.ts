/**
 * Response documentation from the same TypeBox models the routes validate with.
 *
 * @elysiajs/swagger lists every response under three media types (JSON, multipart, text) when a
 * route declares no body parser, which is wrong for a GET API; `responses(...)` writes the
 * OpenAPI `responses` object itself from the route's `response` schemas, one media type each.
 */
import type { TSchema } from "elysia";

const REASONS: Record<number, string> = {
  200: "OK",
  404: "not found (JSON error body)",
  422: "a parameter is not allowed (JSON error body saying what is)",
  503: "a dependency (Redis, Kafka) is unavailable (JSON error body saying which)",
};

type Doc = { schema: TSchema; type?: string; description?: string };
/** An OpenAPI 3 response object (a TypeBox schema is a JSON Schema object). */
type ResponseObject = { description: string; content: Record<string, { schema: object }>; headers?: Record<string, object> };

/**
 * `{ 200: Model, 404: ErrorBody }` → OpenAPI responses as JSON; a list of `{ schema, type }`
 * documents one status with several media types. `headers` documents response headers per
 * status (the completeness flag of the data answers: completeness.ts FLAG_HEADERS).
 */
export function responses(spec: Record<number, TSchema | Doc[]>, headers: Partial<Record<number, Record<string, object>>> = {}): Record<string, ResponseObject> {
  const out: Record<string, ResponseObject> = {};
  for (const [status, entry] of Object.entries(spec)) {
    const docs: Doc[] = Array.isArray(entry) ? entry : [{ schema: entry }];
    const description = docs.find((d) => d.description)?.description ?? REASONS[Number(status)] ?? (docs[0]?.schema.description as string | undefined) ?? "";
    out[status] = {
      description,
      content: Object.fromEntries(docs.map((d) => [d.type ?? "application/json", { schema: d.schema }])),
      ...(headers[Number(status)] ? { headers: headers[Number(status)] } : {}),
    };
  }
  return out;
}
