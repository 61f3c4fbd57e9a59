/**
 * The live dashboard at GET /: a static page, a small script and a stylesheet from ./public,
 * and uPlot's two files from the installed package. No build step and nothing from a CDN; the
 * page reads the JSON endpoints and /stream. Hidden from the OpenAPI document.
 *
 * Files go out through ../static-file.ts (a Range is ignored: the whole file is sent).
 */

import { dirname, join } from "node:path";
import { Elysia, t } from "elysia";
import { NotFoundError } from "../errors.ts";
import { staticFile } from "../static-file.ts";

export const DASHBOARD_ASSETS = "/dashboard";

const PUBLIC = join(import.meta.dir, "public");
const UPLOT = join(dirname(Bun.resolveSync("uplot/package.json", import.meta.dir)), "dist");

/** The only files served (name → path, content type). */
const FILES: Record<string, [string, string]> = {
  "app.js": [join(PUBLIC, "app.js"), "text/javascript; charset=utf-8"],
  "style.css": [join(PUBLIC, "style.css"), "text/css; charset=utf-8"],
  "uPlot.iife.min.js": [join(UPLOT, "uPlot.iife.min.js"), "text/javascript; charset=utf-8"],
  "uPlot.min.css": [join(UPLOT, "uPlot.min.css"), "text/css; charset=utf-8"],
};

const HIDE = { hide: true };

export const dashboardRoutes = () =>
  new Elysia({ name: "api/dashboard" })
    .get("/", () => staticFile(join(PUBLIC, "index.html"), { "content-type": "text/html; charset=utf-8", "cache-control": "no-cache" }), { detail: HIDE })
    .get(
      `${DASHBOARD_ASSETS}/:file`,
      ({ params }) => {
        const file = FILES[params.file];
        if (!file) throw new NotFoundError(`no dashboard asset ${params.file}`);
        return staticFile(file[0], { "content-type": file[1], "cache-control": "no-cache" });
      },
      { params: t.Object({ file: t.String() }), detail: HIDE },
    );
