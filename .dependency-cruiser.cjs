/**
 * The dependency rules of this project (`bun run lint` checks them; README "Architecture").
 * Service code lives in src/, in layers that point one way, lowest first:
 *   1. src/domain                                  the transaction, the groups, the window, config
 *   2. src/kafka, src/redis, src/feed              adapters
 *   3. src/producer, src/consumers, src/rebuild    the pipeline
 *   4. src/api                                     the REST API (over the adapters; no pipeline code)
 *   5. src/projections/registry.ts, src/roles      the registry of projections, and the entry
 *                                                  points of `bun run <role>` that hand it down
 * A projection is a folder, src/projections/<name>/, whose files keep those layers: keys, apply,
 * drop, read and upkeep are Redis adapter code; api/ is API; index.ts puts them together (the
 * top); every other file at its top (spec.ts, ...) is domain. A projection imports no other projection, and no shared layer imports
 * a projection: they know them only through the registry the roles hand down.
 * Dev tools (tools/: simulator, local infra, demo, test kit), test/ and bench/ sit beside it:
 * they may use service code, never the other way round.
 */
const layer = (folders) => `^src/(${folders.join("|")})/`;
const DOMAIN = ["domain"];
const ADAPTERS = ["kafka", "redis", "feed"];
const PIPELINE = ["producer", "consumers", "rebuild"];
const API = ["api"];

/** A rule that lets `from` import only what is in `allowed` (besides npm packages and Node/Bun). */
const onlyDown = (name, from, allowed) => ({
  name,
  comment: `${from.join(", ")} may import only ${allowed.join(", ")}: layers point down`,
  severity: "error",
  from: { path: layer(from) },
  to: { path: "^src/", pathNot: layer(allowed) },
});

/** A projection's files, by layer (`$1` is the projection's name, matched in `from`). */
const P = "^src/projections/([^/]+)/";
const own = (files) => `^src/projections/$1/(${files})`;
/** Its Redis files; every other file at the folder's top but index.ts (spec.ts, ...) is domain. */
const REDIS_FILES = "(keys|apply|drop|read|upkeep)\\.ts$";
const DOMAIN_FILES = "(?!(keys|apply|drop|read|upkeep|index)\\.ts$)[^/]+\\.ts$";
const BELOW_INDEX = "(?!index\\.ts$)[^/]+\\.ts$";

/** A rule that lets a projection's files `from` import only the shared `allowed` layers and their own folder's `ownFiles`. */
const projectionLayer = (name, from, allowed, ownFiles) => ({
  name,
  comment: `a projection's ${name.replace("projection-", "")} files may import only ${allowed.join(", ")} and their own folder's ${ownFiles}`,
  severity: "error",
  from: { path: `${P}${from}` },
  to: { path: "^src/", pathNot: [layer(allowed), own(ownFiles)] },
});

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    projectionLayer("projection-domain", DOMAIN_FILES, DOMAIN, DOMAIN_FILES),
    projectionLayer("projection-redis", REDIS_FILES, [...DOMAIN, "redis"], BELOW_INDEX),
    projectionLayer("projection-api", "api/", [...DOMAIN, ...ADAPTERS, ...API], `${BELOW_INDEX}|api/`),
    {
      name: "projection-alone",
      comment: "a projection imports no other projection (only its own folder and the shared projection.ts)",
      severity: "error",
      from: { path: P },
      to: { path: "^src/projections/[^/]+/", pathNot: "^src/projections/$1/" },
    },
    {
      name: "projections-below-roles",
      comment: "the projections never import the roles that hand their registry down",
      severity: "error",
      from: { path: "^src/projections/" },
      to: { path: "^src/roles/" },
    },
    onlyDown("domain-is-lowest", DOMAIN, DOMAIN),
    // An adapter uses the domain and stays inside its own folder: Kafka, Redis and the feed never import one another.
    ...ADAPTERS.map((a) => onlyDown(`adapter-${a}-alone`, [a], [...DOMAIN, a])),
    // The producer, the consumer groups and rebuild are three independent pipelines over the adapters.
    ...PIPELINE.map((p) => onlyDown(`pipeline-${p}-alone`, [p], [...DOMAIN, ...ADAPTERS, p])),
    // The API reads Redis and Kafka through the adapters; it needs no pipeline code.
    onlyDown("api-above-adapters", API, [...DOMAIN, ...ADAPTERS, ...API]),
    {
      name: "service-code-without-dev-tools",
      comment: "src/ never imports the simulator, the local infra, the test kit, tests or benchmarks",
      severity: "error",
      from: { path: "^src/" },
      to: { path: "^(tools|test|bench)/" },
    },
    {
      name: "tools-without-tests",
      comment: "dev tools serve tests and benchmarks, not the reverse",
      severity: "error",
      from: { path: "^tools/" },
      to: { path: "^(test|bench)/" },
    },
    {
      name: "bench-without-tests",
      comment: "benchmarks share the test kit in tools/testkit, not test/",
      severity: "error",
      from: { path: "^bench/" },
      to: { path: "^test/" },
    },
    {
      name: "no-circular",
      comment: "no module imports itself through others",
      severity: "error",
      from: {},
      to: { circular: true },
    },
    {
      name: "not-to-unresolvable",
      severity: "error",
      from: {},
      to: { couldNotResolve: true },
    },
  ],
  options: {
    doNotFollow: { path: "node_modules" },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: "tsconfig.json" },
    exclude: { path: "^(node_modules|test/fixtures)" },
  },
};
