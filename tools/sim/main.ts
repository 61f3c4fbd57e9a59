/**
 * `bun run sim [options]`: the local blockchain.com feed simulator (tools/sim/server.ts).
 * Prints its websocket URL, for FEED_URL; `--help` lists the options.
 */
import { configOrExit } from "../../src/domain/config.ts";
import { createLogger } from "../../src/domain/log.ts";
import { onShutdown } from "../../src/domain/shutdown.ts";
import { parseSimArgs, SIM_USAGE, type SimOptions } from "./options.ts";
import { startSimulator } from "./server.ts";

const argv = Bun.argv.slice(2);
if (argv.includes("--help") || argv.includes("-h")) {
  console.log(SIM_USAGE);
  process.exit(0);
}
let options: SimOptions;
try {
  options = parseSimArgs(argv);
} catch (err) {
  console.error(`${(err as Error).message}\n${SIM_USAGE}`);
  process.exit(2);
}

const log = createLogger("sim", configOrExit());
// Nobody can ask a separate process for `sent()`: keep no hashes; and the address pool made at
// start: so a demo can run for days on the memory of its first minute.
const sim = await startSimulator({ ...options, keepSent: 0, fillPool: true }, log);
onShutdown(log, sim.stop);
log.info(options.replay ? `replaying ${options.replay}` : `synthetic transactions, seed ${sim.seed}`, { rate: options.rate });
console.log(sim.url);
