/**
 * Redis ACL users, one per role, made from the registry of projections (no hand-kept list):
 *   - `<p>-api` reads the deployment's keys (read-only key permission: even a script cannot write);
 *   - `<p>-producer` writes its held-transactions report and the shared metrics hash;
 *   - `<p>-consumer-<role>`, one per projection, writes only its group's namespace
 *     (`{prefix}:<namespace>:`, or a shard's tag `{prefix:<namespace>:...}:<namespace>:`,
 *     src/redis/keys.ts) and the shared metrics hash;
 *   - `<p>-rebuild` drops projections: every key of the deployment.
 * No user has the `@dangerous` commands (FLUSHALL, FLUSHDB, CONFIG, KEYS, DEBUG, SHUTDOWN,
 * ACL, MONITOR, ...), INFO excepted (every role checks the server's version and eviction policy
 * with it), and the `default` user is off, so nobody works without a user.
 *
 * `aclFile` writes them as a Redis ACL file (`--aclfile`), passwords as SHA-256 hashes.
 */
import { createHash } from "node:crypto";
import type { Config } from "../../src/domain/config.ts";
import type { ProjectionSpec } from "../../src/domain/projection.ts";
import { PROJECTIONS } from "../../src/projections/registry.ts";

export interface RedisRoleUser {
  /** The ACL user name, e.g. `btc-consumer-counts`. */
  readonly name: string;
  /** The role whose processes log in as this user: `api`, `producer`, `rebuild` or `consumer-<role>`. */
  readonly role: string;
  /** The ACL rules after the user's name and password. */
  readonly rules: string;
}

/** Commands every role needs to connect and check the server: INFO is `@dangerous`, so it comes after. */
const CONNECT = "+info +time +ping +echo +hello +select +cluster|slots +cluster|shards +cluster|info";
/** The Lua scripts, loaded once and called by their hash (src/redis/loader.ts), nothing else of scripting. */
const SCRIPTS = "+eval +evalsha +eval_ro +evalsha_ro +script|load +script|exists";
const READ = "+@read";
/** MULTI/EXEC widen no key rule (each queued command is checked); the demo counts a restart in one as the producer. */
const WRITE = "+@read +@write +multi +exec +discard";

/** A role's command rules: its categories without the `@dangerous` commands, then what every role needs. */
const commands = (categories: string, scripts: boolean) => `-@all +@connection ${categories} -@dangerous ${scripts ? `${SCRIPTS} ` : ""}${CONNECT}`;

export interface AclOptions {
  /** REDIS_PREFIX, or a glob such as `*` for users that serve every prefix (the tests' namespaces). */
  prefix: Config["REDIS_PREFIX"];
  /** The start of every user name; default `btc`. */
  userPrefix?: string;
  projections?: readonly ProjectionSpec[];
}

/** The key patterns of a group's projection: its namespace under the deployment's tag, and under its shards' tags. */
const groupKeys = (prefix: string, spec: Pick<ProjectionSpec, "namespace" | "sharded">) =>
  [`~{${prefix}}:${spec.namespace}:*`, ...(spec.sharded ? [`~{${prefix}:${spec.namespace}:*}:${spec.namespace}:*`] : [])].join(" ");

/** Every role's user, the consumers' in the registry's order. */
export function redisRoleUsers(opts: AclOptions): RedisRoleUser[] {
  const p = opts.prefix;
  const u = opts.userPrefix ?? "btc";
  const metrics = `~{${p}}:metrics`;
  const everything = `~{${p}}:* ~{${p}:*}:*`;
  return [
    { name: `${u}-api`, role: "api", rules: `${commands(READ, true)} %R~{${p}}:* %R~{${p}:*}:*` },
    { name: `${u}-producer`, role: "producer", rules: `${commands(WRITE, false)} ${metrics} ~{${p}}:producer:*` },
    ...(opts.projections ?? PROJECTIONS).map((spec) => ({
      name: `${u}-consumer-${spec.role}`,
      role: `consumer-${spec.role}`,
      rules: `${commands(WRITE, true)} ${groupKeys(p, spec)} ${metrics} %R~{${p}}:producer:held`,
    })),
    { name: `${u}-rebuild`, role: "rebuild", rules: `${commands(WRITE, true)} ${everything}` },
  ];
}

/** A password as an ACL file holds it: its SHA-256, so the file reveals none. */
const hashed = (password: string) => `#${createHash("sha256").update(password).digest("hex")}`;

/** The ACL file: `default` off, then each user with its password (`passwordOf(user)`) and rules. */
export function aclFile(users: readonly RedisRoleUser[], passwordOf: (user: RedisRoleUser) => string): string {
  const lines = [
    "user default off resetkeys resetchannels -@all",
    ...users.map((user) => `user ${user.name} on resetkeys resetchannels ${hashed(passwordOf(user))} ${user.rules}`),
  ];
  return `${lines.join("\n")}\n`;
}

/**
 * `bun tools/infra/acl.ts [REDIS_PREFIX]`: the users as `ACL SETUSER` commands, for a Redis the
 * project does not start (a managed one): each with `><user>-password>` to replace by that user's own password.
 */
if (import.meta.main) {
  const prefix = process.argv[2] ?? "btc";
  for (const user of redisRoleUsers({ prefix })) console.log(`ACL SETUSER ${user.name} on resetkeys resetchannels ><${user.name}-password> ${user.rules}`);
}
