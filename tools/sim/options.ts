/**
 * The simulator's options: one TypeBox schema with the defaults and what is allowed, read from
 * the command line by `parseSimArgs` (for `bun run sim` and `bun run demo -- ...`) or given
 * directly to `startSimulator` (`keepSent` only there).
 */
import { parseArgs } from "node:util";
import { type Static, type TSchema, Type } from "@sinclair/typebox";
import { Value } from "@sinclair/typebox/value";

/**
 * How many of the latest sent hashes the simulator keeps unless told otherwise: a bounded ring, so
 * a simulator that runs for days holds the same memory on day three as after a minute (about 1 MB).
 */
export const KEEP_SENT = 10_000;

export const SimOptions = Type.Object({
  port: Type.Integer({ default: 8765, minimum: 0, maximum: 65535, description: "port on 127.0.0.1: an integer from 0 (any free port) to 65535" }),
  rate: Type.Number({ default: 7, minimum: 0, maximum: 1_000_000, description: "transactions per second: a number from 0 (as fast as the client reads) to 1000000" }),
  seed: Type.Optional(Type.Integer({ minimum: 0, maximum: 4_294_967_295, description: "seed of the synthetic transactions: an integer from 0 to 4294967295 (default: random)" })),
  count: Type.Integer({ default: 0, minimum: 0, description: "transactions to send before stopping: an integer, 0 for no limit" }),
  replay: Type.Optional(Type.String({ minLength: 1, description: "a .jsonl file of recorded utx messages, one a line, sent instead of synthetic ones" })),
  retime: Type.Boolean({ default: false, description: "replay: stamp each message with the time it is sent" }),
  loop: Type.Integer({ default: 1, minimum: 1, description: "replay: times to send the file, an integer from 1" }),
  dropEvery: Type.Integer({ default: 0, minimum: 0, description: "close each connection after this many frames: an integer, 0 for never" }),
  malformed: Type.Number({ default: 0, minimum: 0, maximum: 1, description: "fraction of frames sent malformed: a number from 0 to 1" }),
  duplicate: Type.Boolean({ default: false, description: "send every transaction twice" }),
  // Not a command-line option: `bun run sim` (and so `bun run demo`) fills it, so that a
  // simulator running for hours holds the same memory as after its first minute (tools/sim/synthetic.ts).
  fillPool: Type.Optional(Type.Boolean({ description: "synthetic: make every address of the popular pool at start instead of at its first draw" })),
  // Not a command-line option: only a caller of `startSimulator` can read `sent()`; `bun run sim`
  // (and so `bun run demo`) keeps none.
  keepSent: Type.Optional(
    Type.Union([Type.Integer({ minimum: 0 }), Type.Literal("all")], {
      description: `hashes sent() keeps: the latest N, an integer from 0 (default ${KEEP_SENT}), or "all" for a caller that checks every transaction`,
    }),
  ),
});

export type SimOptions = Static<typeof SimOptions>;

export const SIM_USAGE = `usage: bun run sim [options]
  --port N         ${SimOptions.properties.port.description}
  --rate R         ${SimOptions.properties.rate.description}
  --seed S         ${SimOptions.properties.seed.description}
  --count N        ${SimOptions.properties.count.description}
  --replay FILE    ${SimOptions.properties.replay.description}
  --retime         ${SimOptions.properties.retime.description}
  --loop N         ${SimOptions.properties.loop.description}
  --drop-every N   ${SimOptions.properties.dropEvery.description}
  --malformed F    ${SimOptions.properties.malformed.description}
  --duplicate      ${SimOptions.properties.duplicate.description}`;

/** Fills the defaults and checks every option; throws one line naming the option, the value and what is allowed. */
export function resolveSimOptions(given: Partial<SimOptions>): SimOptions {
  const options = Value.Default(SimOptions, { ...given }) as Record<string, unknown>;
  for (const [name, schema] of Object.entries(SimOptions.properties) as [string, TSchema][]) {
    const value = options[name];
    if (value !== undefined && !Value.Check(schema, value)) {
      throw new Error(`sim: --${name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}=${JSON.stringify(value)} is not allowed; expected ${schema.description}`);
    }
  }
  return options as SimOptions;
}

/** Reads `--port 9000 --rate 0 --replay capture.jsonl ...`; throws on unknown or bad options. */
export function parseSimArgs(argv: string[]): SimOptions {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      port: { type: "string" },
      rate: { type: "string" },
      seed: { type: "string" },
      count: { type: "string" },
      replay: { type: "string" },
      retime: { type: "boolean" },
      loop: { type: "string" },
      "drop-every": { type: "string" },
      malformed: { type: "string" },
      duplicate: { type: "boolean" },
    },
  });
  // Numbers must be written as numbers: "7", "0.5"; "", "1e3x" stay strings and fail the check.
  const num = (text: string | undefined) => (text === undefined ? undefined : /^-?\d+(\.\d+)?$/.test(text) ? Number(text) : text);
  const given = {
    port: num(values.port),
    rate: num(values.rate),
    seed: num(values.seed),
    count: num(values.count),
    replay: values.replay,
    retime: values.retime,
    loop: num(values.loop),
    dropEvery: num(values["drop-every"]),
    malformed: num(values.malformed),
    duplicate: values.duplicate,
  };
  return resolveSimOptions(Object.fromEntries(Object.entries(given).filter(([, v]) => v !== undefined)) as Partial<SimOptions>);
}
