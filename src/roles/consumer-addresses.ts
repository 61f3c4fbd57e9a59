/**
 * Kept only for bench/consumers.bench.ts, which still starts src/roles/consumer-<role>.ts: the
 * entry point is `bun src/roles/consumer.ts addresses` (`bun run consumer:addresses`).
 */
import { runConsumer } from "./consumer.ts";

await runConsumer("addresses");
