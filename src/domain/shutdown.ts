/**
 * Graceful shutdown for every role: the first SIGINT/SIGTERM runs the role's `stop` (finish the
 * batch in hand, commit, leave the group, disconnect) and exits 0; a second signal exits at once.
 */
import type { Logger } from "./log.ts";

export function onShutdown(log: Logger, stop: () => Promise<void>): void {
  let stopping = false;
  const handle = (signal: string) => {
    if (stopping) {
      log.warn(`${signal} again: exiting now`);
      process.exit(130);
    }
    stopping = true;
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
