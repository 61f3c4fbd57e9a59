/**
 * Child processes of the local stack (a JVM for Kafka, redis-server) and the small helpers
 * around them: free ports, "does anything answer on this port", waiting for readiness.
 *
 * Every child is started under `setpriv --pdeathsig TERM` where available, so the kernel stops
 * it when the process that started it dies, even by SIGKILL: no JVM or redis-server is left
 * behind by a crashed test run or demo.
 */

import { closeSync, existsSync, mkdirSync, openSync } from "node:fs";
import { connect } from "node:net";
import { join, resolve } from "node:path";
import { type Subprocess, spawn } from "bun";

/** The gitignored folder for the Kafka jars and local data. */
export const CACHE_DIR = resolve(process.env.BTC_CACHE_DIR ?? join(import.meta.dir, "..", "..", ".cache"));

export function cacheDir(...parts: string[]): string {
  const dir = join(CACHE_DIR, ...parts);
  mkdirSync(dir, { recursive: true });
  return dir;
}

const SETPRIV = ["/usr/bin/setpriv", "/bin/setpriv"].find((p) => existsSync(p));

export interface Child {
  readonly name: string;
  readonly proc: Subprocess;
  /** Sends SIGTERM, waits up to `graceMs`, then SIGKILL. Resolves when the process is gone. */
  stop(graceMs?: number): Promise<void>;
}

/** `cmd` run so that the kernel sends it SIGTERM when this process dies (where setpriv exists). */
export const diesWithParent = (cmd: string[]): string[] => (SETPRIV ? [SETPRIV, "--pdeathsig", "TERM", "--", ...cmd] : cmd);

export function startChild(name: string, cmd: string[], opts: { cwd?: string; logFile: string; env?: Record<string, string> }): Child {
  const argv = diesWithParent(cmd);
  const log = openSync(opts.logFile, "a");
  const proc = spawn(argv, {
    cwd: opts.cwd,
    env: { ...process.env, ...opts.env },
    stdin: "ignore",
    stdout: log,
    stderr: log,
  });
  closeSync(log);
  return {
    name,
    proc,
    async stop(graceMs = 15_000) {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      proc.kill("SIGTERM");
      const timer = setTimeout(() => proc.kill("SIGKILL"), graceMs);
      // Bounded even if the exit is never reported: stopping must not hang its caller.
      await Promise.race([proc.exited, Bun.sleep(graceMs + 5_000)]);
      clearTimeout(timer);
    },
  };
}

/** True when something accepts a TCP connection on host:port within `timeoutMs`. */
export function portAnswers(host: string, port: number, timeoutMs = 500): Promise<boolean> {
  return new Promise((done) => {
    const socket = connect({ host, port });
    const finish = (ok: boolean) => {
      socket.destroy();
      done(ok);
    };
    socket.setTimeout(timeoutMs, () => finish(false));
    socket.once("connect", () => finish(true));
    socket.once("error", () => finish(false));
  });
}

/** A port on 127.0.0.1 that nothing listens on right now. */
export function freePort(): number {
  const server = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const port = server.port;
  server.stop(true);
  return port;
}

/** Polls `ready` until it is true, the child exits, or `timeoutMs` passes. */
export async function waitUntil(what: string, ready: () => Promise<boolean>, timeoutMs: number, child?: Child, logFile?: string) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child && (child.proc.exitCode !== null || child.proc.signalCode !== null)) {
      throw new Error(`${what} exited during start-up (code ${child.proc.exitCode ?? child.proc.signalCode})${logFile ? `; see ${logFile}` : ""}`);
    }
    if (await ready()) return;
    await Bun.sleep(200);
  }
  throw new Error(`${what} was not ready after ${timeoutMs} ms${logFile ? `; see ${logFile}` : ""}`);
}

/** Hosts that mean "this machine": only there may the stack start a server itself. */
export const isLocalHost = (host: string) => ["localhost", "127.0.0.1", "::1", "[::1]"].includes(host);

/** The absolute path of a program on PATH, or undefined. */
export const which = (program: string): string | undefined => Bun.which(program) ?? undefined;
