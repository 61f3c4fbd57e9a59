/**
 * What the API takes of a projection (src/projections/<name>/api/): its tag in the OpenAPI
 * document, its routes, built from the context the app hands every projection, and the feeds it
 * offers the shared parts (/stream, /health). The app mounts each projection of the registry it
 * is given; it names none.
 */
import type { AnyElysia } from "elysia";
import type Redis from "ioredis";
import type { Config } from "../domain/config.ts";
import type { ProjectionSpec } from "../domain/projection.ts";
import type { Coverage } from "./completeness.ts";
import type { Freshness } from "./fresh.ts";
import type { Feeds } from "./store.ts";

/** What a projection's routes are built from. */
export interface ApiContext {
  readonly config: Config;
  /** A client made by `connectRedis`; reads go through `fromRedis` (./redis.ts). */
  readonly redis: Redis;
  /** Keeps each reading until its projection's version moves (./fresh.ts); holds the clock (unix ms), which tests pin. */
  readonly fresh: Freshness;
  /** Reads a projection's coverage around its figures, for the `complete` flag (./completeness.ts). */
  readonly coverage: Coverage;
}

export interface ApiPart {
  /** Its tag in the OpenAPI document. */
  readonly tag: { readonly name: string; readonly description: string };
  /** Its routes (an Elysia plugin), on the app's context. */
  routes(ctx: ApiContext): AnyElysia;
  /** Reads it offers the shared parts of the API: the newest transactions, the minutes' counts (/stream, /health). */
  feeds?(redis: Redis, config: Config): Partial<Feeds>;
}

/** A projection as the API knows it: its spec and its API part. */
export interface ApiProjection extends ProjectionSpec {
  readonly api: ApiPart;
}
