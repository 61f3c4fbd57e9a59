/**
 * `bun run demo` as a child process for tests: its output kept line by line (and in
 * test/artifacts/<tag>.log), the pids it printed per role, and every process below it, so a test
 * can check that stopping it leaves nothing running.
 */
import { createWriteStream, mkdirSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

const ROOT = join(import.meta.dir, "..", "..");
const ARTIFACTS = join(ROOT, "test", "artifacts");

/** The demo as a child process; its output lines are kept and written to test/artifacts/<tag>.log. */
export function startDemo(env: Record<string, string>, tag: string, simArgs: string[]) {
  mkdirSync(ARTIFACTS, { recursive: true });
  const log = createWriteStream(join(ARTIFACTS, `${tag}.log`));
  const lines: string[] = [];
  const proc = Bun.spawn([process.execPath, join(ROOT, "tools", "demo", "main.ts"), "--", ...simArgs], {
    cwd: ROOT,
    env: { ...process.env, ...env, LOG_LEVEL: "info" },
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  const read = async (stream: ReadableStream<Uint8Array>) => {
    let rest = "";
    const decoder = new TextDecoder();
    for await (const bytes of stream) {
      const chunk = decoder.decode(bytes, { stream: true });
      log.write(chunk);
      const parts = (rest + chunk).split("\n");
      rest = parts.pop() ?? "";
      lines.push(...parts);
    }
    if (rest) lines.push(rest);
  };
  const done = Promise.all([read(proc.stdout), read(proc.stderr)]).then(() => log.end());
  /** The pids the demo printed for `role` (`demo: <role> pid <pid>`), in order. */
  const pids = (role: string) =>
    lines.flatMap(
      (l) =>
        l
          .match(new RegExp(`^demo: ${role} pid (\\d+)$`))
          ?.slice(1)
          .map(Number) ?? [],
    );
  return { proc, lines, pids, done };
}

/** Every process below `pid` (by /proc's parent links), with its start time to tell a reused pid. */
export function descendants(pid: number): { pid: number; start: string }[] {
  const parents = new Map<number, number>();
  const starts = new Map<number, string>();
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const fields = readFileSync(`/proc/${entry}/stat`, "utf8").split(") ")[1]?.split(" ") ?? [];
      parents.set(Number(entry), Number(fields[1]));
      starts.set(Number(entry), fields[19] ?? "");
    } catch {}
  }
  const found: number[] = [];
  const queue = [pid];
  while (queue.length) {
    const parent = queue.shift() as number;
    for (const [child, p] of parents) if (p === parent) found.push(child), queue.push(child);
  }
  return found.map((p) => ({ pid: p, start: starts.get(p) ?? "" }));
}

export const alive = ({ pid, start }: { pid: number; start: string }) => {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]?.split(" ") ?? [];
    return fields[19] === start && fields[0] !== "Z";
  } catch {
    return false;
  }
};
