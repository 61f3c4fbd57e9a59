/**
 * A projection module: everything one projection is, from one folder (src/projections/<name>/).
 * Its spec (plain data every layer may read), how it applies transactions and keeps itself up
 * (consumers), how it drops (rebuild, and a consumer that finds another log), and its part of the
 * API. The registry (./registry.ts) lists the modules; the roles hand it down to the shared
 * layers, which see only the part they use (`ConsumerProjection`, `ApiProjection`, ...).
 */
import type { ApiProjection } from "../api/projection.ts";
import type { ConsumerProjection } from "../consumers/group.ts";

export interface Projection extends ConsumerProjection, ApiProjection {}
