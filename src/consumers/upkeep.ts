/**
 * A group's upkeep (window advance, trimming: its `tick`) on a timer, so it happens while the feed
 * is idle too. A tick still running is not started again; a failed one is logged, and the next
 * tick tries again.
 */
import type { RunnerContext } from "./context.ts";

/** Runs a first tick, then one every `tickEveryMs` (10 s by default); resolves, after the first, to a function that stops them. */
export async function startUpkeep({ group, redis, role, log }: RunnerContext): Promise<() => void> {
  let ticking = false;
  const tick = async () => {
    if (!group.tick || ticking) return;
    ticking = true;
    try {
      await group.tick(redis);
    } catch (err) {
      log.limited(`tick:${role}`, "warn", `${role}: upkeep failed, will retry`, { error: String(err) });
    } finally {
      ticking = false;
    }
  };
  await tick();
  if (!group.tick) return () => {};
  const ticker = setInterval(tick, group.tickEveryMs ?? 10_000);
  return () => clearInterval(ticker);
}
