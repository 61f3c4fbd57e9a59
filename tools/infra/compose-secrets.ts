/**
 * `bun tools/infra/compose-secrets.ts`: the files compose.yaml takes as `secrets:`, made once into
 * `.cache/compose/` (out of git and out of the image's build context, both of which ignore
 * `.cache`): a CA, the servers' certificate for the compose services `kafka` and `redis`, the
 * Kafka users' passwords (the broker's and the roles'), one password per Redis ACL user and the
 * ACL file (tools/infra/acl.ts, from the registry, passwords as hashes). A second run keeps what
 * is there: Kafka's SCRAM users are made when its volume is first formatted.
 *
 * The folder is its owner's only; the files in it are readable by all, because compose mounts a
 * file secret as it is and the containers read them as their own users (Kafka's, Redis's, Bun's).
 */
import { chmodSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { aclFile, redisRoleUsers } from "./acl.ts";
import { CACHE_DIR } from "./process.ts";
import { makeCertificates, secret } from "./secure.ts";

export const COMPOSE_SECRETS_DIR = join(CACHE_DIR, "compose");
/** REDIS_PREFIX of compose.yaml's roles: the ACL users' key patterns are made for it. */
export const COMPOSE_REDIS_PREFIX = "btc";

export function writeComposeSecrets(dir = COMPOSE_SECRETS_DIR): string[] {
  makeCertificates(dir, { hosts: ["kafka", "redis"] });
  secret(dir, "kafka-broker");
  secret(dir, "kafka-btc");
  const users = redisRoleUsers({ prefix: COMPOSE_REDIS_PREFIX });
  writeFileSync(
    join(dir, "users.acl"),
    aclFile(users, (user) => secret(dir, `redis-${user.name}`).value),
  );
  chmodSync(dir, 0o700);
  const files = readdirSync(dir).filter((f) => !f.startsWith("."));
  for (const file of files) chmodSync(join(dir, file), 0o644);
  return files;
}

if (import.meta.main) {
  const files = writeComposeSecrets();
  console.log(`compose secrets in ${COMPOSE_SECRETS_DIR}: ${files.sort().join(", ")}`);
}
