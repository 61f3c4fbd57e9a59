/**
 * The run-wide secure stack of the secure tests (test/secure-*.test.ts): one SASL_SSL Kafka broker
 * and one TLS redis-server with a user per role, started by tools/infra/secure-stack.ts as
 * `bun run infra --secure` starts them, on free ports. The first test that asks for it starts it;
 * test/setup.ts stops it at the end of the run, when it was started. A broker's start is most of a
 * secure test's time, so the tests that only need "a secure stack" share this one; a test of what
 * starts a stack (`infra --secure`, `demo --secure`, compose's services) still starts its own.
 *
 * Its certificates are made once per run (`secureCertificates()`, before the stack when a test
 * only needs them), and so is a second CA that signed nothing of it (`otherCertificates()`), for
 * the tests of a certificate that must be refused.
 *
 * Each test keeps its own topic, GROUP_PREFIX and REDIS_PREFIX. The ACL users are made for the
 * prefix glob `sec*` (SECURE_TEST_PREFIXES): every secure test's REDIS_PREFIX starts with `sec`,
 * each role still writes only its own group's keys under any of them, and a key outside them
 * (`{other}:...`) is still no one's.
 */
import { copyFileSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { LocalKafka } from "../infra/kafka.ts";
import { freePort } from "../infra/process.ts";
import type { LocalRedis } from "../infra/redis.ts";
import { type Certificates, makeCertificates } from "../infra/secure.ts";
import { type SecureStack, startSecureStack } from "../infra/secure-stack.ts";

/** The REDIS_PREFIX glob the shared stack's ACL users serve: a secure test's own prefix starts with `sec`. */
export const SECURE_TEST_PREFIXES = "sec*";

/** The shared stack as a test sees it: both servers started by this run, and no `stop` (test/setup.ts stops it). */
export type SharedSecureStack = Omit<SecureStack, "stop" | "kafka" | "redis"> & { readonly kafka: LocalKafka; readonly redis: LocalRedis };

let root: string | undefined;
let stack: Promise<SecureStack> | undefined;
let certs: Certificates | undefined;
let other: Certificates | undefined;

const runDir = () => {
  root ??= mkdtempSync(join(tmpdir(), "btc-test-secure-"));
  return root;
};
/** The stack's folder: certificates in `certs/` (secure-stack.ts finds them made), passwords in `secrets/`. */
const stackDir = () => join(runDir(), "stack");

/** The CA, server and client certificates of the shared stack, made on first use (the stack need not run). */
export function secureCertificates(): Certificates {
  certs ??= makeCertificates(join(stackDir(), "certs"));
  return certs;
}

/** A second CA with its own server and client certificates: trusted by nothing of the shared stack. */
export function otherCertificates(): Certificates {
  other ??= makeCertificates(join(runDir(), "other-ca"));
  return other;
}

/** The run's secure stack, started on first use. */
export async function secureStack(): Promise<SharedSecureStack> {
  // Its certificates are secureCertificates()'s: made in the same folder, by whichever comes first.
  stack ??= startSecureStack({ dir: stackDir(), kafkaPort: freePort(), redisPort: freePort(), prefix: SECURE_TEST_PREFIXES, log: () => {} });
  const { stop: _stop, kafka, redis, ...rest } = await stack;
  if (!kafka || !redis) throw new Error("the secure test stack found servers running on its free ports instead of starting its own");
  return { ...rest, kafka, redis };
}

/** Stops the shared stack, if a test started it, and removes its folder (test/setup.ts, at the end of the run). */
export async function stopSecureTestStack(): Promise<void> {
  const started = stack;
  const dir = root;
  stack = undefined;
  root = undefined;
  certs = undefined;
  other = undefined;
  const running = await started?.catch(() => undefined);
  if (running) {
    const { kafka, redis } = running;
    // SIGKILL, not a clean shutdown: its folder goes next, and the run's last hook (test/setup.ts)
    // need not wait for a second broker's shutdown beside the plain one's, slow on a busy machine.
    if (kafka && redis) await Promise.all([...kafka.nodes.map((n) => kafka.killNode(n.nodeId)), redis.kill()]);
    else await running.stop();
    // Keep the broker's log of the run (warnings and errors) for when a test failed, as stack.ts does.
    const artifacts = join(import.meta.dir, "..", "..", "test", "artifacts");
    mkdirSync(artifacts, { recursive: true });
    for (const node of kafka?.nodes ?? []) copyFileSync(node.logFile, join(artifacts, `kafka-secure-${node.nodeId}.log`));
  }
  if (dir) rmSync(dir, { recursive: true, force: true });
}
