/**
 * Kept only for bench/consumers.bench.ts, which still starts src/roles/consumer-<role>.ts: the
 * entry point is `bun src/roles/consumer.ts transactions` (`bun run consumer:transactions`).
 */
import { runConsumer } from "./consumer.ts";

await runConsumer("transactions");
