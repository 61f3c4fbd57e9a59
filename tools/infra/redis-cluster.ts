/**
 * A local Redis Cluster: redis-server nodes started with `--cluster-enabled yes` (each on its own
 * port, cluster-bus port and folder), joined by `redis-cli --cluster create --cluster-replicas 1`:
 * with six ports, three masters with one replica each. Ready once every node says
 * `cluster_state:ok`. Each node can be stopped, killed (SIGKILL) and started again, for fault tests.
 */

import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Redis from "ioredis";
import { MissingToolError } from "./kafka.ts";
import { type Child, diesWithParent, freePort, portAnswers, startChild, waitUntil, which } from "./process.ts";
import { pingRedis } from "./redis.ts";

export type RedisRole = "master" | "replica";

export interface RedisClusterNode {
  readonly port: number;
  /** The cluster-bus port (node-to-node gossip). */
  readonly busPort: number;
  readonly url: string;
  readonly dataDir: string;
  readonly logFile: string;
  /** The node's cluster id (`CLUSTER MYID`); kept across restarts. */
  readonly id: string;
  /** The role as last seen: at start-up, then by `refreshRoles()` / `waitUntilOk()`; a failover changes it. */
  readonly role: RedisRole;
  /** The pid of the running redis-server, undefined when it is stopped. */
  readonly pid: number | undefined;
  readonly running: boolean;
  /** SIGTERM, then SIGKILL after a grace period; resolves when the process is gone. */
  stop(): Promise<void>;
  /** SIGKILL: gone at once (what a crash does). */
  kill(): Promise<void>;
  /** Starts it again on the same ports and folder (it rejoins from its nodes.conf); nothing when it runs. */
  start(): Promise<void>;
}

export interface LocalRedisCluster {
  /** Seeds for REDIS_URL: every node's URL, comma-separated. */
  readonly url: string;
  readonly nodes: readonly RedisClusterNode[];
  /** The running nodes whose last seen role is master / replica (see `refreshRoles`). */
  masters(): RedisClusterNode[];
  replicas(): RedisClusterNode[];
  /** Reads every node's role from a running node's `CLUSTER NODES`. */
  refreshRoles(): Promise<void>;
  /**
   * Waits until every running node says `cluster_state:ok`, knows every node, flags none of the
   * running ones as failed, sees all slots served by the expected number of masters, and every
   * running replica's link to its master is up. Then refreshes the roles.
   */
  waitUntilOk(timeoutMs?: number): Promise<void>;
  /** Stops every node; removes the data folder when it was a temporary one. */
  stop(): Promise<void>;
}

export interface StartRedisClusterOptions {
  /** Client ports, an even number of at least 6 (half masters, half replicas); default: six free ports. */
  ports?: number[];
  /** Folder with a sub-folder per node; default: a temporary folder, removed by `stop()`. An existing cluster there (same ports) is started again as it was. */
  dataDir?: string;
  /** `cluster-node-timeout`: how long a node may be unreachable before it counts as failed (and its replica takes over); default 5000. */
  nodeTimeoutMs?: number;
  /** Append-only file on (default): a master killed and restarted before its failover keeps its data. */
  persist?: boolean;
  /** How long start-up may take before it gives up; default 30 s. */
  readyTimeoutMs?: number;
  log?: (line: string) => void;
}

export interface NodeView {
  id: string;
  port: number;
  /** e.g. ["myself", "master"], ["slave"], ["master", "fail"]. */
  flags: string[];
  /** A replica's master id, "-" for a master. */
  masterId: string;
  /** How many hash slots it serves. */
  slots: number;
}

/** The lines of `CLUSTER NODES`. */
export function parseClusterNodes(text: string): NodeView[] {
  return text
    .split("\n")
    .filter((line) => line.trim())
    .map((line) => {
      const [id = "", address = "", flags = "", masterId = "", , , , , ...slots] = line.trim().split(" ");
      const hostPort = address.split("@")[0] ?? "";
      return {
        id,
        port: Number(hostPort.slice(hostPort.lastIndexOf(":") + 1)),
        flags: flags.split(","),
        masterId,
        slots: slots
          .filter((s) => !s.startsWith("[")) // a slot being migrated
          .reduce((sum, range) => {
            const [from, to = from] = range.split("-").map(Number) as [number, number?];
            return sum + to - from + 1;
          }, 0),
      };
    });
}

const failed = (view: NodeView) => view.flags.includes("fail") || view.flags.includes("fail?");

/** Runs one command on the node at `port`, on a short-lived connection. */
export async function askNode(port: number, ...args: string[]): Promise<string> {
  const client = new Redis({ host: "127.0.0.1", port, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: 1000 });
  client.on("error", () => {});
  try {
    await client.connect();
    return String(await client.call(args[0] as string, ...args.slice(1)));
  } finally {
    client.disconnect();
  }
}

/** Bus ports: port + 10000 where that is a valid, idle port not used by another node; else a free port. */
function pickBusPorts(ports: readonly number[]): Promise<number[]> {
  const taken = new Set(ports);
  const pick = async (port: number) => {
    let bus = port + 10_000;
    if (bus > 65_535 || taken.has(bus) || (await portAnswers("127.0.0.1", bus, 200))) {
      do bus = freePort();
      while (taken.has(bus));
    }
    taken.add(bus);
    return bus;
  };
  return ports.reduce(async (acc, port) => [...(await acc), await pick(port)], Promise.resolve([] as number[]));
}

const MARKER = "cluster.json";

export async function startRedisCluster(opts: StartRedisClusterOptions = {}): Promise<LocalRedisCluster> {
  const server = which("redis-server");
  const cli = which("redis-cli");
  if (!server || !cli) throw new MissingToolError("redis-server and redis-cli are needed for a local Redis Cluster: install them (Debian: apt-get install redis-server).");
  const log = opts.log ?? (() => {});
  const ports = opts.ports ?? Array.from({ length: 6 }, () => freePort());
  if (ports.length < 6 || ports.length % 2 !== 0) throw new Error(`redis: a cluster needs an even number of at least 6 ports (masters with one replica each), not ${ports.length}`);
  if (new Set(ports).size !== ports.length) throw new Error(`redis: the cluster's ports repeat: ${ports.join(",")}`);
  const expectedMasters = ports.length / 2;
  const nodeTimeoutMs = opts.nodeTimeoutMs ?? 5_000;
  const readyTimeoutMs = opts.readyTimeoutMs ?? 30_000;
  const temporary = opts.dataDir ? undefined : mkdtempSync(join(tmpdir(), "btc-redis-cluster-"));
  const root = opts.dataDir ?? (temporary as string);
  mkdirSync(root, { recursive: true });

  // A cluster created here before, on the same ports, starts again as it was; anything else starts afresh.
  const markerFile = join(root, MARKER);
  const nodeDir = (i: number) => join(root, `node-${i + 1}`);
  let busPorts: number[] | undefined;
  if (existsSync(markerFile)) {
    const marker = JSON.parse(readFileSync(markerFile, "utf8")) as { ports?: number[]; busPorts?: number[] };
    const complete = ports.every((_, i) => existsSync(join(nodeDir(i), "nodes.conf")));
    if (complete && JSON.stringify(marker.ports) === JSON.stringify(ports) && marker.busPorts?.length === ports.length) busPorts = marker.busPorts;
  }
  const existing = busPorts !== undefined;
  if (!existing) {
    rmSync(markerFile, { force: true });
    for (let i = 0; i < ports.length; i++) rmSync(nodeDir(i), { recursive: true, force: true });
    busPorts = await pickBusPorts(ports);
  }

  const nodes = ports.map((port, i) => {
    const dataDir = nodeDir(i);
    mkdirSync(dataDir, { recursive: true });
    const busPort = (busPorts as number[])[i] as number;
    const logFile = join(dataDir, "redis.log");
    const args = [
      server,
      "--port",
      String(port),
      "--bind",
      "127.0.0.1",
      "--dir",
      dataDir,
      "--cluster-enabled",
      "yes",
      "--cluster-config-file",
      "nodes.conf",
      "--cluster-port",
      String(busPort),
      "--cluster-node-timeout",
      String(nodeTimeoutMs),
      // A replica may take over however long it was cut off from its master (a local test cluster wants the failover).
      "--cluster-replica-validity-factor",
      "0",
      "--save",
      "",
      "--appendonly",
      opts.persist === false ? "no" : "yes",
      "--appendfsync",
      "everysec",
      "--daemonize",
      "no",
    ];
    let child: Child | undefined;
    const isRunning = () => child !== undefined && child.proc.exitCode === null && child.proc.signalCode === null;
    const node = {
      port,
      busPort,
      url: `redis://127.0.0.1:${port}`,
      dataDir,
      logFile,
      id: "",
      role: (i < expectedMasters ? "master" : "replica") as RedisRole,
      get pid() {
        return isRunning() ? child?.proc.pid : undefined;
      },
      get running() {
        return isRunning();
      },
      async start() {
        if (isRunning()) return;
        const started = startChild(`redis-cluster-${port}`, args, { logFile });
        child = started;
        await waitUntil(`redis-server (cluster node) on port ${port}`, () => pingRedis(node.url), 15_000, started, logFile);
      },
      async stop() {
        await child?.stop();
      },
      async kill() {
        if (!child || !isRunning()) return;
        child.proc.kill("SIGKILL");
        await child.proc.exited;
      },
    };
    return node;
  });

  const running = () => nodes.filter((n) => n.running);

  const refreshRoles = async () => {
    for (const node of running()) {
      try {
        const views = parseClusterNodes(await askNode(node.port, "CLUSTER", "NODES"));
        for (const view of views) {
          const known = nodes.find((n) => n.port === view.port);
          if (!known) continue;
          if (view.flags.includes("master")) known.role = "master";
          else if (view.flags.includes("slave")) known.role = "replica";
          if (view.id) known.id = view.id;
        }
        return;
      } catch {
        // that node went away meanwhile: ask the next
      }
    }
  };

  /** Why the cluster is not healthy yet, or undefined when it is. */
  const notOk = async (): Promise<string | undefined> => {
    const up = running();
    if (up.length === 0) return "no node runs";
    const upPorts = new Set(up.map((n) => n.port));
    for (const node of up) {
      try {
        const info = await askNode(node.port, "CLUSTER", "INFO");
        if (!info.includes("cluster_state:ok")) return `port ${node.port}: ${/cluster_state:\w+/.exec(info)?.[0] ?? "no cluster_state"}`;
        const views = parseClusterNodes(await askNode(node.port, "CLUSTER", "NODES"));
        if (views.length !== nodes.length) return `port ${node.port} knows ${views.length} of ${nodes.length} nodes`;
        const down = views.filter((v) => upPorts.has(v.port) && failed(v));
        if (down.length) return `port ${node.port} sees ${down.map((v) => v.port).join(",")} as failed`;
        const serving = views.filter((v) => v.flags.includes("master") && !failed(v) && v.slots > 0).length;
        if (serving !== expectedMasters) return `port ${node.port} sees ${serving} masters serving slots, not ${expectedMasters}`;
        const me = views.find((v) => v.flags.includes("myself"));
        if (me?.flags.includes("slave")) {
          const replication = await askNode(node.port, "INFO", "replication");
          if (!replication.includes("master_link_status:up")) return `replica on port ${node.port}: its link to the master is not up`;
        }
      } catch (err) {
        return `port ${node.port}: ${err instanceof Error ? err.message : err}`;
      }
    }
    return undefined;
  };

  const waitUntilOk = async (timeoutMs = readyTimeoutMs) => {
    let reason: string | undefined = "not checked yet";
    try {
      await waitUntil("the redis cluster", async () => (reason = await notOk()) === undefined, timeoutMs);
    } catch (err) {
      throw new Error(`${err instanceof Error ? err.message : err}: ${reason}`);
    }
    await refreshRoles();
  };

  const stop = async () => {
    await Promise.all(nodes.map((n) => n.stop()));
    if (temporary) rmSync(temporary, { recursive: true, force: true });
  };

  try {
    await Promise.all(nodes.map((n) => n.start()));
    if (!existing) {
      log(`redis: creating a cluster of ${expectedMasters} masters with a replica each on ports ${ports.join(",")}`);
      await createCluster(cli, ports, readyTimeoutMs);
      writeFileSync(markerFile, `${JSON.stringify({ ports, busPorts })}\n`);
    }
    await waitUntilOk();
    for (const node of nodes) node.id = (await askNode(node.port, "CLUSTER", "MYID")).trim();
  } catch (err) {
    await stop();
    throw err;
  }

  return {
    url: nodes.map((n) => n.url).join(","),
    nodes,
    masters: () => running().filter((n) => n.role === "master"),
    replicas: () => running().filter((n) => n.role === "replica"),
    refreshRoles,
    waitUntilOk,
    stop,
  };
}

/** `redis-cli --cluster create`: the first half of the ports become masters, each of the rest a replica. */
async function createCluster(cli: string, ports: readonly number[], timeoutMs: number): Promise<void> {
  const proc = Bun.spawn(diesWithParent([cli, "--cluster", "create", ...ports.map((p) => `127.0.0.1:${p}`), "--cluster-replicas", "1", "--cluster-yes"]), {
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  const timer = setTimeout(() => proc.kill("SIGKILL"), timeoutMs);
  const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  clearTimeout(timer);
  if (code !== 0 || !out.includes("[OK] All 16384 slots covered")) {
    throw new Error(`redis: redis-cli --cluster create failed (exit ${code ?? proc.signalCode}):\n${out}${err}`);
  }
}
