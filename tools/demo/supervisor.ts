/**
 * Supervision of the demo's role processes: a role that exits while the demo is not stopping is
 * started again after a backoff (0.5 s doubling to 30 s); one that fails 5 times in a row within
 * a minute is given up on, and the caller stops the demo.
 *
 * `RestartPolicy` is the decision alone (no timers, no processes: time is passed in), so it is
 * unit-tested as is; `Supervisor` applies it to child processes.
 */
import type { Subprocess } from "bun";
import { backoffStep } from "../../src/domain/backoff.ts";

export interface PolicyOptions {
  /** Delay before the first restart of a streak; doubles with each failure. */
  firstDelayMs: number;
  maxDelayMs: number;
  /** Give up when this many failures in a row fall within `giveUpWithinMs`. */
  giveUpAfter: number;
  giveUpWithinMs: number;
}

export const DEFAULT_POLICY: PolicyOptions = { firstDelayMs: 500, maxDelayMs: 30_000, giveUpAfter: 5, giveUpWithinMs: 60_000 };

/** The delay before restart number `failures` of a streak (1 for the first): 0.5, 1, 2, 4, ... 30 s. */
export function backoffMs(failures: number, options: PolicyOptions = DEFAULT_POLICY): number {
  return backoffStep(Math.max(0, failures - 1), options.firstDelayMs, options.maxDelayMs);
}

export type Decision = { giveUp: false; delayMs: number; failures: number } | { giveUp: true; failures: number; withinMs: number };

/**
 * One role's failures in a row. A run that lasted `giveUpWithinMs` or longer ends the streak: the
 * role was healthy, so its next failure waits the first delay again.
 */
export class RestartPolicy {
  /** When each failure of the current streak happened (ms). */
  private streak: number[] = [];

  constructor(private readonly options: PolicyOptions = DEFAULT_POLICY) {}

  /** Records that a run started at `startedAtMs` ended at `nowMs`; says whether and when to restart. */
  onExit(startedAtMs: number, nowMs: number): Decision {
    if (nowMs - startedAtMs >= this.options.giveUpWithinMs) this.streak = [];
    this.streak.push(nowMs);
    const { giveUpAfter, giveUpWithinMs } = this.options;
    const failures = this.streak.length;
    if (failures >= giveUpAfter) {
      const first = this.streak[failures - giveUpAfter] as number;
      if (nowMs - first <= giveUpWithinMs) return { giveUp: true, failures, withinMs: nowMs - first };
    }
    return { giveUp: false, delayMs: backoffMs(failures, this.options), failures };
  }
}

/** How a process ended: its exit code, or the signal that killed it (`"SIGKILL"`). */
export type ExitStatus = number | string;

export const describeExit = (exit: ExitStatus) => (typeof exit === "number" ? `exit code ${exit}` : `signal ${exit}`);

export interface RestartEvent {
  role: string;
  exit: ExitStatus;
  delayMs: number;
  /** Failures in the current streak, this one included. */
  failures: number;
  atMs: number;
}

export interface SupervisorHooks {
  /** Starts the role's process (first start and every restart). */
  spawn(role: string): Subprocess;
  /** A process was started (first start or restart). */
  started?(role: string, proc: Subprocess, restart: boolean): void;
  /** A role exited and will be started again after `delayMs`. */
  exited?(event: RestartEvent): void;
  /** A role was started again (after its delay). */
  restarted?(event: RestartEvent, proc: Subprocess): void;
  /** A role failed `failures` times within `withinMs`: the supervisor restarts it no more. */
  gaveUp?(role: string, exit: ExitStatus, failures: number, withinMs: number): void;
  now?(): number;
}

interface Supervised {
  role: string;
  proc: Subprocess | undefined;
  startedAt: number;
  policy: RestartPolicy;
  timer: ReturnType<typeof setTimeout> | undefined;
}

export class Supervisor {
  private readonly roles = new Map<string, Supervised>();
  private stopping = false;
  private readonly now: () => number;

  constructor(
    private readonly hooks: SupervisorHooks,
    private readonly policy: PolicyOptions = DEFAULT_POLICY,
  ) {
    this.now = hooks.now ?? Date.now;
  }

  /** Starts `role` and keeps it running until `stop()`; after `stop()`, starts nothing. */
  add(role: string): Subprocess | undefined {
    if (this.stopping) return undefined;
    const entry: Supervised = { role, proc: undefined, startedAt: 0, policy: new RestartPolicy(this.policy), timer: undefined };
    this.roles.set(role, entry);
    return this.launch(entry, undefined);
  }

  /** The running process of each role (none while a role waits for its restart). */
  processes(): { role: string; proc: Subprocess }[] {
    return [...this.roles.values()].flatMap((e) => (e.proc ? [{ role: e.role, proc: e.proc }] : []));
  }

  private launch(entry: Supervised, restart: RestartEvent | undefined): Subprocess {
    const proc = this.hooks.spawn(entry.role);
    entry.proc = proc;
    entry.startedAt = this.now();
    this.hooks.started?.(entry.role, proc, restart !== undefined);
    if (restart) this.hooks.restarted?.(restart, proc);
    proc.exited.then(() => {
      if (entry.proc === proc) entry.proc = undefined;
      this.failed(entry, proc.signalCode ?? proc.exitCode ?? -1);
    });
    return proc;
  }

  private failed(entry: Supervised, exit: ExitStatus): void {
    if (this.stopping) return;
    const atMs = this.now();
    const decision = entry.policy.onExit(entry.startedAt, atMs);
    if (decision.giveUp) {
      this.hooks.gaveUp?.(entry.role, exit, decision.failures, decision.withinMs);
      return;
    }
    const event: RestartEvent = { role: entry.role, exit, delayMs: decision.delayMs, failures: decision.failures, atMs };
    this.hooks.exited?.(event);
    entry.timer = setTimeout(() => {
      entry.timer = undefined;
      if (this.stopping) return;
      try {
        this.launch(entry, { ...event, atMs: this.now() });
      } catch (err) {
        // Could not even spawn: counts as a failure of a run that lasted no time.
        console.error(`supervisor: starting ${entry.role} failed: ${err instanceof Error ? err.message : err}`);
        entry.startedAt = this.now();
        this.failed(entry, 127);
      }
    }, decision.delayMs);
  }

  /**
   * Restarts no more, sends SIGTERM to every running role, SIGKILL to those still running after
   * `graceMs`; resolves when all are gone.
   */
  async stop(graceMs = 20_000): Promise<void> {
    this.stopping = true;
    for (const entry of this.roles.values()) clearTimeout(entry.timer);
    const running = this.processes().map((p) => p.proc);
    for (const proc of running) proc.kill("SIGTERM");
    const timer = setTimeout(() => running.forEach((p) => p.kill("SIGKILL")), graceMs);
    await Promise.all(running.map((p) => p.exited));
    clearTimeout(timer);
  }
}
