/**
 * The demo's supervision (tools/demo/supervisor.ts): the backoff and give-up policy on its own
 * (time passed in, no processes), then the Supervisor on real short-lived processes.
 */
import { describe, expect, test } from "bun:test";
import type { Subprocess } from "bun";
import { backoffMs, DEFAULT_POLICY, type ExitStatus, type RestartEvent, RestartPolicy, Supervisor } from "../tools/demo/supervisor.ts";
import { waitFor } from "./helpers/env.ts";

describe("restart policy", () => {
  test("backs off 0.5 s doubling to 30 s", () => {
    expect([1, 2, 3, 4, 5, 6, 7, 8, 20].map((n) => backoffMs(n))).toEqual([500, 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000]);
  });

  test("gives up at the 5th failure in a row within a minute", () => {
    const policy = new RestartPolicy();
    let now = 1_000_000;
    const delays: number[] = [];
    for (let i = 1; i <= 4; i++) {
      const d = policy.onExit(now - 100, now); // each run lasted 0.1 s
      expect(d.giveUp).toBe(false);
      if (!d.giveUp) delays.push(d.delayMs);
      now += (d.giveUp ? 0 : d.delayMs) + 100;
    }
    expect(delays).toEqual([500, 1000, 2000, 4000]);
    const fifth = policy.onExit(now - 100, now);
    expect(fifth).toEqual({ giveUp: true, failures: 5, withinMs: expect.any(Number) });
    if (fifth.giveUp) expect(fifth.withinMs).toBeLessThanOrEqual(60_000);
  });

  test("keeps going when the failures are spread out", () => {
    // Short runs, but the 5 latest failures span more than a minute: never gives up, the backoff grows to its cap.
    const policy = new RestartPolicy();
    let now = 0;
    const delays: number[] = [];
    for (let i = 0; i < 12; i++) {
      now += 20_000;
      const d = policy.onExit(now - 1_000, now);
      expect(d.giveUp).toBe(false);
      if (!d.giveUp) delays.push(d.delayMs);
    }
    expect(delays).toEqual([500, 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000, 30000, 30000, 30000]);
  });

  test("a run of a minute or more ends the streak: the next failure waits 0.5 s again", () => {
    const policy = new RestartPolicy();
    let now = 0;
    for (let i = 0; i < 4; i++) policy.onExit(now, (now += 1_000));
    const after = policy.onExit(now, (now += 60_000));
    expect(after).toEqual({ giveUp: false, delayMs: 500, failures: 1 });
    // Crashing every 61 s for ever is never given up on.
    for (let i = 0; i < 10; i++) expect(policy.onExit(now, (now += 61_000))).toEqual({ giveUp: false, delayMs: 500, failures: 1 });
  });

  test("the defaults are the documented ones", () => {
    expect(DEFAULT_POLICY).toEqual({ firstDelayMs: 500, maxDelayMs: 30_000, giveUpAfter: 5, giveUpWithinMs: 60_000 });
  });
});

describe("Supervisor on real processes", () => {
  const fast = { firstDelayMs: 20, maxDelayMs: 100, giveUpAfter: 5, giveUpWithinMs: 60_000 };
  const run = (code: string) => Bun.spawn([process.execPath, "-e", code], { stdin: "ignore", stdout: "ignore", stderr: "ignore" });

  test("restarts a process that exits, then gives up on one that keeps failing", async () => {
    const exits: RestartEvent[] = [];
    const restarts: RestartEvent[] = [];
    let gaveUp: { role: string; exit: ExitStatus; failures: number } | undefined;
    let spawned = 0;
    const supervisor = new Supervisor(
      {
        spawn: () => (spawned++, run("process.exit(3)")),
        exited: (e) => exits.push(e),
        restarted: (e) => restarts.push(e),
        gaveUp: (role, exit, failures) => (gaveUp = { role, exit, failures }),
      },
      fast,
    );
    supervisor.add("crasher");
    await waitFor("the supervisor to give up", () => gaveUp, 30_000);
    expect(gaveUp).toEqual({ role: "crasher", exit: 3, failures: 5 });
    expect(spawned).toBe(5);
    expect(exits.map((e) => [e.exit, e.delayMs, e.failures])).toEqual([
      [3, 20, 1],
      [3, 40, 2],
      [3, 80, 3],
      [3, 100, 4],
    ]);
    expect(restarts.length).toBe(4);
    await supervisor.stop(1_000);
  });

  test("reports the killing signal, and stop() ends every process and restarts none", async () => {
    const procs: Subprocess[] = [];
    const exits: RestartEvent[] = [];
    const supervisor = new Supervisor(
      {
        spawn: () => {
          const p = run("setInterval(() => {}, 1000)");
          procs.push(p);
          return p;
        },
        exited: (e) => exits.push(e),
      },
      fast,
    );
    supervisor.add("a");
    supervisor.add("b");
    procs[0]?.kill("SIGKILL");
    await waitFor("a to be started again", () => procs.length === 3);
    expect(exits.map((e) => [e.role, e.exit])).toEqual([["a", "SIGKILL"]]);
    await supervisor.stop(5_000);
    for (const p of procs) expect(p.exitCode !== null || p.signalCode !== null).toBe(true);
    await Bun.sleep(200);
    expect(procs.length).toBe(3);
    expect(supervisor.processes()).toEqual([]);
  });
});
