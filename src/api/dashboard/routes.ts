/**
 * The live dashboard at GET /: a static page, a small script and a stylesheet from ./public,
 * and uPlot's two files from the installed package. No build step and nothing from a CDN; the
 * page reads the JSON endpoints and /stream. Hidden from the OpenAPI document.
 *
 * Files go out wrapped in a Response: Elysia answers a `Range` it cannot satisfy on a returned
 * Bun.file with an empty 416, not a JSON error; wrapped, the Range is ignored (RFC 9110 14.2
 * allows it) and the whole file is sent.
 */

import { dirname, join } from "node:path";
import { Elysia, t } from "elysia";
import { NotFoundError } from "../errors.ts";

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
    .get(
      "/",
      ({ set }) => {
        set.headers["content-type"] = "text/html; charset=utf-8";
        set.headers["cache-control"] = "no-cache";
        return new Response(Bun.file(join(PUBLIC, "index.html")));
      },
      { detail: HIDE },
    )
    .get(
      `${DASHBOARD_ASSETS}/:file`,
      ({ params, set }) => {
        const file = FILES[params.file];
        if (!file) throw new NotFoundError(`no dashboard asset ${params.file}`);
        set.headers["content-type"] = file[1];
        set.headers["cache-control"] = "no-cache";
        return new Response(Bun.file(file[0]));
      },
      { params: t.Object({ file: t.String() }), detail: HIDE },
    );
