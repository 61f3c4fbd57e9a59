/**
 * Whether the demo's roles run with JavaScriptCore's JIT (docs/benchmarks.md, "The creep is the
 * JIT's memory"). With it, a consumer's memory grows by several MB an hour for as long as it runs;
 * without it, every role's memory holds flat, for 1.3 to 3.5 times the CPU. So a demo fed at up to
 * `NO_JIT_MAX_RATE` (the simulator's default of 7 tx/s, and the live feed) runs without it, its
 * memory flat (measured over 40 minutes); one fed faster keeps it, for its throughput. `BUN_JSC_useJIT` in the environment
 * decides instead (`BUN_JSC_useJIT=true bun run demo` keeps the JIT at any rate).
 */
import { parseSimArgs } from "../sim/options.ts";

/** The fastest feed, in tx/s, whose roles run without the JIT: the rate the soak bench measures them flat at. */
export const NO_JIT_MAX_RATE = 100;

/** What the demo adds to its roles' environment: `BUN_JSC_useJIT=false`, or nothing. */
export function jitEnv(env: Record<string, string | undefined>, simArgs: string[], live: boolean): Record<string, string> {
  if (env.BUN_JSC_useJIT !== undefined) return {};
  const off = { BUN_JSC_useJIT: "false" };
  if (live) return off;
  let rate: number;
  try {
    rate = parseSimArgs(simArgs).rate;
  } catch {
    return {}; // the simulator refuses them and says why
  }
  return rate > 0 && rate <= NO_JIT_MAX_RATE ? off : {};
}
