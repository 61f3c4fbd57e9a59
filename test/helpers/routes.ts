/**
 * The GET routes of each projection's API part as a client asks them (each path parameter its
 * documented example), for tests that go over every data answer without a hand-kept list.
 */
import type { App } from "../../src/api/app.ts";
import type { ApiContext, ApiProjection } from "../../src/api/projection.ts";

/** The GET routes `p` mounts on `context`, with each path parameter the example `app`'s OpenAPI document gives it. */
export async function askedRoutes(app: App, p: ApiProjection, context: ApiContext): Promise<string[]> {
  const doc = (await (await app.handle(new Request("http://localhost/swagger/json"))).json()) as {
    paths: Record<string, { get: { parameters?: { in: string; name: string; schema: { example?: string } }[] } }>;
  };
  return p.api
    .routes(context)
    .routes.filter((r) => r.method === "GET")
    .map((r) => {
      const params = doc.paths[r.path.replace(/:([^/]+)/g, "{$1}")]?.get.parameters ?? [];
      return r.path.replace(/:([^/]+)/g, (_, name: string) => {
        const example = params.find((x) => x.in === "path" && x.name === name)?.schema.example;
        if (example === undefined) throw new Error(`${r.path}: no documented example for the path parameter ${name}`);
        return encodeURIComponent(example);
      });
    });
}
