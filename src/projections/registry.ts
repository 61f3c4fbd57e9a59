/**
 * The registry: every projection, listed once, each a module of its own folder
 * (src/projections/<name>/index.ts). The roles (src/roles/) hand it down to the shared layers,
 * which never import a projection: the consumers, rebuild, the API, /health, the demo, compose
 * and the tests all enumerate it. Its order is the order /health lists them in.
 *
 * Adding a projection: a folder beside the others (README.md, "Adding a projection") and its line here.
 */
import { addresses } from "./addresses/index.ts";
import { counts } from "./counts/index.ts";
import { fees } from "./fees/index.ts";
import type { Projection } from "./projection.ts";
import { transactions } from "./transactions/index.ts";

export const PROJECTIONS: readonly Projection[] = [counts, addresses, transactions, fees];

/** Every role, in the registry's order. */
export const ROLES = PROJECTIONS.map((p) => p.role);

/** The projection of `role`, or undefined. */
export const projectionOf = (role: unknown): Projection | undefined => PROJECTIONS.find((p) => p.role === role);
