/**
 * The demo's roles run without the JIT at the rates the soak bench measures their memory flat at,
 * and with it above (tools/demo/jit.ts); the environment's own BUN_JSC_useJIT always wins.
 * test/demo.test.ts checks a running demo's role gets it.
 */
import { describe, expect, test } from "bun:test";
import { jitEnv, NO_JIT_MAX_RATE } from "../tools/demo/jit.ts";
import { resolveSimOptions } from "../tools/sim/options.ts";

const OFF = { BUN_JSC_useJIT: "false" };

describe("the demo's JIT", () => {
  test("off at the simulator's default rate, at the limit, and on the live feed", () => {
    expect(resolveSimOptions({}).rate).toBeLessThanOrEqual(NO_JIT_MAX_RATE);
    expect(jitEnv({}, [], false)).toEqual(OFF);
    expect(jitEnv({}, ["--rate", String(NO_JIT_MAX_RATE)], false)).toEqual(OFF);
    expect(jitEnv({}, ["--rate", "30", "--count", "600"], false)).toEqual(OFF);
    expect(jitEnv({}, [], true)).toEqual(OFF);
  });

  test("kept above the limit and at full speed (rate 0)", () => {
    expect(jitEnv({}, ["--rate", String(NO_JIT_MAX_RATE + 1)], false)).toEqual({});
    expect(jitEnv({}, ["--rate", "0"], false)).toEqual({});
  });

  test("the environment's BUN_JSC_useJIT decides, either way; options the simulator refuses change nothing", () => {
    expect(jitEnv({ BUN_JSC_useJIT: "true" }, [], false)).toEqual({});
    expect(jitEnv({ BUN_JSC_useJIT: "false" }, ["--rate", "1000"], false)).toEqual({});
    expect(jitEnv({}, ["--rate", "not-a-number"], false)).toEqual({});
  });
});
