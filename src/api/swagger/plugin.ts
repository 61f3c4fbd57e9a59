/**
 * The Swagger playground at /swagger, working with no internet.
 *
 * @elysiajs/swagger does two things: it generates the OpenAPI document from the routes' TypeBox
 * schemas (served at /swagger/json), and it serves an HTML page at /swagger that loads Swagger
 * UI's script from unpkg.com (its stylesheet URL can be changed, its script URL cannot). We keep
 * the first and replace the second:
 *
 * - The plugin is registered for the spec. Its page route cannot be switched off, so our own
 *   page answers GET /swagger from an `onRequest` hook: Elysia's first lifecycle event, whose
 *   return value short-circuits routing (documented behaviour), so the plugin's CDN page is
 *   never reached, under `app.handle` and under Bun.serve alike. (Re-registering GET /swagger
 *   after the plugin would also shadow it, but that relies on an undocumented "last one wins"
 *   and, for a static Response, on Bun's native route table being rebuilt the same way.)
 * - Swagger UI's files come from the installed `swagger-ui-dist` package, served under
 *   /swagger/assets/ (hidden from the document).
 *
 * The hook costs one string comparison per request.
 */

import { dirname, join } from "node:path";
import { swagger } from "@elysiajs/swagger";
import { Elysia, t } from "elysia";
import { NotFoundError } from "../errors.ts";
import { staticFile } from "../static-file.ts";

export const SWAGGER_PATH = "/swagger";
export const SPEC_PATH = "/swagger/json";
export const ASSETS_PATH = "/swagger/assets";

const DIST = dirname(Bun.resolveSync("swagger-ui-dist/package.json", import.meta.dir));
/** The only files served from the package (nothing else in node_modules is reachable). */
const ASSETS = ["swagger-ui.css", "swagger-ui-bundle.js", "favicon-32x32.png", "favicon-16x16.png"] as const;

export interface SwaggerOptions {
  title: string;
  version: string;
  description: string;
  tags: { name: string; description: string }[];
}

function page(title: string): string {
  // validatorUrl null: Swagger UI would otherwise load a badge from validator.swagger.io.
  const options = { url: SPEC_PATH, dom_id: "#swagger-ui", deepLinking: true, validatorUrl: null, layout: "BaseLayout", displayRequestDuration: true };
  return `<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8" />
  <meta name="viewport" content="width=device-width, initial-scale=1" />
  <title>${title}</title>
  <link rel="icon" type="image/png" href="${ASSETS_PATH}/favicon-32x32.png" sizes="32x32" />
  <link rel="stylesheet" href="${ASSETS_PATH}/swagger-ui.css" />
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="${ASSETS_PATH}/swagger-ui-bundle.js"></script>
  <script>
    window.ui = SwaggerUIBundle(Object.assign(${JSON.stringify(options)}, { presets: [SwaggerUIBundle.presets.apis] }));
  </script>
</body>
</html>
`;
}

export const swaggerPlugin = (opts: SwaggerOptions) => {
  const html = page(opts.title);
  return new Elysia({ name: "api/swagger" })
    .use(
      swagger({
        provider: "swagger-ui",
        path: SWAGGER_PATH,
        specPath: SPEC_PATH,
        documentation: { info: { title: opts.title, version: opts.version, description: opts.description }, tags: opts.tags },
        exclude: [SWAGGER_PATH, `${SWAGGER_PATH}/`, SPEC_PATH],
      }),
    )
    .onRequest(function swaggerPage({ request }) {
      // request.url is absolute: compare the path only, with or without the trailing slash.
      const url = request.url;
      const start = url.indexOf("/", url.indexOf("//") + 2);
      const end = url.indexOf("?", start);
      const path = end === -1 ? url.slice(start) : url.slice(start, end);
      if (request.method === "GET" && (path === SWAGGER_PATH || path === `${SWAGGER_PATH}/`)) {
        return new Response(html, { headers: { "content-type": "text/html; charset=utf-8", "cache-control": "no-cache" } });
      }
    })
    .get(
      `${ASSETS_PATH}/:file`,
      ({ params }) => {
        if (!(ASSETS as readonly string[]).includes(params.file)) throw new NotFoundError(`no Swagger UI asset ${params.file}`);
        return staticFile(join(DIST, params.file), { "cache-control": "public, max-age=3600" });
      },
      { params: t.Object({ file: t.String() }), detail: { hide: true } },
    );
};
