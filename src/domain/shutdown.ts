/**
 * Graceful shutdown for every role: the first SIGINT/SIGTERM runs the role's `stop` (finish the
 * batch in hand, commit, leave the group, disconnect) and exits 0; a second signal exits at once.
 * One stop often arrives twice: Ctrl-C reaches the whole process group (the role and the demo
 * that supervises it, which then sends its own SIGTERM), and `bun run` forwards what it gets. A
 * repeat within `REPEAT_MS` of the first is taken as that same stop.
 */
import type { Logger } from "./log.ts";

/** How long after the first signal a repeat is the same stop delivered twice. */
export const REPEAT_MS = 2_000;

export function onShutdown(log: Logger, stop: () => Promise<void>): void {
  let stopping = false;
  let since = 0;
  const handle = (signal: string) => {
    if (stopping) {
      if (Date.now() - since <= REPEAT_MS) return;
      log.warn(`${signal} again: exiting now`);
      process.exit(130);
    }
    stopping = true;
    since = Date.now();
    log.info(`${signal}: stopping`);
    stop().then(
      () => process.exit(0),
      (err) => {
        log.error("stop failed", { error: String(err) });
        process.exit(1);
      },
    );
  };
  process.on("SIGINT", () => handle("SIGINT"));
  process.on("SIGTERM", () => handle("SIGTERM"));
}
