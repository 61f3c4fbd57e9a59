/**
 * Preloaded once per `bun test` run (bunfig.toml): one real Kafka broker and one real
 * redis-server on free ports for the whole run, stopped at the end, passing or failing.
 * Started before any test file is loaded, so `testEnv()` (test/helpers/env.ts) finds their
 * addresses in process.env. The secure tests' shared stack (tools/testkit/secure.ts) is started
 * by the first test that needs it, and stopped here too when one did.
 */
import { afterAll } from "bun:test";
import { stopSecureTestStack } from "../tools/testkit/secure.ts";
import { startTestStack, stopTestStack } from "../tools/testkit/stack.ts";

await startTestStack();
// A broker's clean shutdown can take longer than Bun's default 5 s for a hook on a busy machine
// (seen in a run alone of test/faults.test.ts at load average 25): the hook's own bound is longer.
afterAll(async () => {
  await Promise.all([stopTestStack(), stopSecureTestStack()]);
}, 60_000);
