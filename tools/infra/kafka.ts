/**
 * A real Apache Kafka broker on this machine, without Docker.
 *
 * Kafka's broker is published on Maven Central (`org.apache.kafka:kafka_2.13`); the first run
 * copies it and its runtime dependencies into `.cache/kafka-<version>/libs` with Maven, later runs
 * reuse that folder. Brokers run in KRaft mode (no ZooKeeper): one node that is both broker and
 * controller, or a cluster of N such nodes on one host.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Kafka, type KafkaConfig, logLevel } from "kafkajs";
import { type Child, cacheDir, diesWithParent, freePort, startChild, waitUntil, which } from "./process.ts";

export const KAFKA_VERSION = "4.1.1";
const LOG4J_VERSION = "2.24.3";

const POM = `<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>local.btc-stream</groupId>
  <artifactId>kafka-broker</artifactId>
  <version>${KAFKA_VERSION}</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId><version>${KAFKA_VERSION}</version></dependency>
    <!-- Kafka compiles against slf4j 1.7 but ships no backend: log4j2 through the slf4j 1.x binding. -->
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-slf4j-impl</artifactId><version>${LOG4J_VERSION}</version></dependency>
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-core</artifactId><version>${LOG4J_VERSION}</version></dependency>
  </dependencies>
</project>
`;

// Warnings and errors only, plus the two lines that tell start-up progress.
const LOG4J2 = `status = warn
appender.console.type = Console
appender.console.name = STDOUT
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = warn
rootLogger.appenderRef.stdout.ref = STDOUT
logger.raft.name = kafka.server.KafkaRaftServer
logger.raft.level = info
`;

export class MissingToolError extends Error {
  override name = "MissingToolError";
}

function requireTool(program: string, install: string): string {
  const path = which(program);
  if (!path) throw new MissingToolError(`${program} not found: the local Kafka broker needs it. ${install}`);
  return path;
}

/** The folder holding the broker's jars; fetched from Maven Central on first use. */
export async function ensureKafkaJars(log: (line: string) => void = (l) => console.error(l)): Promise<string> {
  const home = cacheDir(`kafka-${KAFKA_VERSION}`);
  const libs = join(home, "libs");
  const done = join(home, ".complete");
  if (existsSync(done)) return home;

  requireTool("java", "Install Java 17 or newer (Debian: apt-get install openjdk-17-jre-headless), or use Docker: docker compose up.");
  const mvn = requireTool("mvn", "Install Maven (Debian: apt-get install maven), or use Docker: docker compose up.");
  writeFileSync(join(home, "pom.xml"), POM);
  rmSync(libs, { recursive: true, force: true });
  log(`kafka: fetching Apache Kafka ${KAFKA_VERSION} from Maven Central into ${home} (first run only)`);

  const proc = Bun.spawn(
    [mvn, "-B", "-f", join(home, "pom.xml"), "org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy-dependencies", "-DincludeScope=runtime", `-DoutputDirectory=${libs}`],
    { stdout: "pipe", stderr: "pipe" },
  );
  let fetched = 0;
  let tail: string[] = [];
  let lastReport = 0;
  for await (const chunk of proc.stdout.pipeThrough(new TextDecoderStream())) {
    for (const line of chunk.split("\n")) {
      if (line.trim()) tail = [...tail.slice(-20), line];
      if (line.includes("Downloaded from")) fetched++;
      if (fetched && Date.now() - lastReport > 2000) {
        lastReport = Date.now();
        log(`kafka: ${fetched} files downloaded so far...`);
      }
    }
  }
  const code = await proc.exited;
  if (code !== 0) {
    const err = await new Response(proc.stderr).text();
    throw new Error(`kafka: Maven could not fetch Kafka ${KAFKA_VERSION} (exit ${code}):\n${[...tail, err].join("\n")}`);
  }
  writeFileSync(join(home, "log4j2.properties"), LOG4J2);
  writeFileSync(done, new Date().toISOString());
  log(`kafka: Kafka ${KAFKA_VERSION} ready in ${libs}`);
  return home;
}

export interface KafkaNode {
  nodeId: number;
  port: number;
  controllerPort: number;
}

export interface LocalKafka {
  /** Bootstrap string for KAFKA_BROKERS. */
  readonly brokers: string;
  readonly nodes: readonly (KafkaNode & { child: Child; dataDir: string; logFile: string })[];
  /** Its TLS and SCRAM settings when it is a SASL_SSL broker. */
  readonly security?: KafkaSecurity;
  stop(): Promise<void>;
  /** Stops one node (the others keep running); for fault tests. */
  stopNode(nodeId: number): Promise<void>;
  /** Starts a stopped (or killed) node again on the same ports and data; nothing when it runs. */
  startNode(nodeId: number): Promise<void>;
  /** SIGKILL of one node: gone at once, nothing flushed (what a crash does); `startNode` brings it back. */
  killNode(nodeId: number): Promise<void>;
}

/** A KRaft cluster id: 16 random bytes, base64url without padding; never starting with "-",
 *  which StorageTool would read as an option. */
function clusterId(): string {
  for (;;) {
    const id = Buffer.from(crypto.getRandomValues(new Uint8Array(16))).toString("base64url");
    if (!id.startsWith("-")) return id;
  }
}

/** The cluster id a node of `root` was formatted with, if one was: a node formatted later must join it. */
function formattedClusterId(metaDirs: readonly string[]): string | undefined {
  for (const dir of metaDirs) {
    const file = join(dir, "meta.properties");
    if (!existsSync(file)) continue;
    const id = /^cluster\.id=(.+)$/m.exec(readFileSync(file, "utf8"))?.[1]?.trim();
    if (id) return id;
  }
  return undefined;
}

/** A SCRAM user: name and password. */
export interface ScramUser {
  readonly name: string;
  readonly password: string;
}

/**
 * A SASL_SSL broker (`bun run infra --secure`, the secure tests): its only listener for clients
 * and for the other brokers is SASL_SSL with SCRAM-SHA-512, its certificate signed by `certs`'
 * CA; every client shows a certificate of that CA too (mutual TLS), then logs in with SCRAM. The
 * KRaft controller listener stays plaintext, bound to localhost.
 */
export interface KafkaSecurity {
  /**
   * PEM files (tools/infra/secure.ts makes them): the CA, the broker's key and certificate in one
   * file, and a client's certificate and key.
   */
  readonly certs: { readonly ca: string; readonly serverKeystore: string; readonly clientCert: string; readonly clientKey: string };
  /** The brokers' own user, for the connections between brokers. */
  readonly broker: ScramUser;
  /** The clients' users. All SCRAM users are created when the storage is formatted (`--add-scram`). */
  readonly users: readonly ScramUser[];
}

/** The SASL mechanism of a secure broker, the only one it enables. */
export const SECURE_MECHANISM = "SCRAM-SHA-512";

function securityLines(security: KafkaSecurity): string[] {
  const { certs, broker } = security;
  return [
    "listener.security.protocol.map=CONTROLLER:PLAINTEXT,SASL_SSL:SASL_SSL",
    "inter.broker.listener.name=SASL_SSL",
    `sasl.enabled.mechanisms=${SECURE_MECHANISM}`,
    `sasl.mechanism.inter.broker.protocol=${SECURE_MECHANISM}`,
    `listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="${broker.name}" password="${broker.password}";`,
    "ssl.keystore.type=PEM",
    `ssl.keystore.location=${certs.serverKeystore}`,
    "ssl.truststore.type=PEM",
    `ssl.truststore.location=${certs.ca}`,
    // The broker-wide ssl.client.auth is ignored on a SASL_SSL listener: only the listener's own counts.
    "listener.name.sasl_ssl.ssl.client.auth=required",
  ];
}

function properties(
  node: KafkaNode,
  all: readonly KafkaNode[],
  dataDir: string,
  overrides: Readonly<Record<string, string | number>>,
  security: KafkaSecurity | undefined,
): string {
  const replication = Math.min(3, all.length);
  const listener = security ? "SASL_SSL" : "PLAINTEXT";
  const lines = [
    "process.roles=broker,controller",
    `node.id=${node.nodeId}`,
    all.length === 1
      ? `controller.quorum.bootstrap.servers=localhost:${node.controllerPort}`
      : `controller.quorum.voters=${all.map((n) => `${n.nodeId}@localhost:${n.controllerPort}`).join(",")}`,
    `listeners=${listener}://localhost:${node.port},CONTROLLER://localhost:${node.controllerPort}`,
    `advertised.listeners=${listener}://localhost:${node.port},CONTROLLER://localhost:${node.controllerPort}`,
    "controller.listener.names=CONTROLLER",
    ...(security ? securityLines(security) : ["inter.broker.listener.name=PLAINTEXT", "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT"]),
    `log.dirs=${dataDir}`,
    `offsets.topic.replication.factor=${replication}`,
    "offsets.topic.num.partitions=1",
    `transaction.state.log.replication.factor=${replication}`,
    "transaction.state.log.min.isr=1",
    `share.coordinator.state.topic.replication.factor=${replication}`,
    "share.coordinator.state.topic.min.isr=1",
    "group.initial.rebalance.delay.ms=0",
    "auto.create.topics.enable=false",
    "num.partitions=3",
  ];
  // An override replaces the default of the same key, or is added.
  const merged = new Map(lines.map((line) => [line.slice(0, line.indexOf("=")), line] as const));
  for (const [key, value] of Object.entries(overrides)) merged.set(key, `${key}=${value}`);
  return `${[...merged.values()].join("\n")}\n`;
}

export interface StartKafkaOptions {
  /** Broker ports, one per node; a single port gives a single-node broker. */
  ports: number[];
  /** Folder for data and logs; defaults to `.cache/kafka-data/<first port>`. A fresh folder is formatted. */
  dataDir?: string;
  log?: (line: string) => void;
  /** JVM heap per node. */
  heap?: string;
  /** More JVM options per node, e.g. `["-XX:TieredStopAtLevel=1"]`. */
  jvmOptions?: string[];
  /** Broker properties that replace the defaults (or add to them), e.g. `{ "min.insync.replicas": 2 }`. */
  overrides?: Readonly<Record<string, string | number>>;
  /** A SASL_SSL broker instead of a plaintext one. */
  security?: KafkaSecurity;
}

/** What a kafkajs client needs to reach a broker started with `security` as `user` (tools and tests). */
export const clientSecurity = (security: KafkaSecurity, user: ScramUser = security.users[0] ?? security.broker): Pick<KafkaConfig, "ssl" | "sasl"> => ({
  ssl: { ca: [readFileSync(security.certs.ca, "utf8")], cert: readFileSync(security.certs.clientCert, "utf8"), key: readFileSync(security.certs.clientKey, "utf8") },
  sasl: { mechanism: "scram-sha-512", username: user.name, password: user.password },
});

/** Starts a single node (one port) or a cluster (several ports) and waits until every node is up. */
export async function startKafka(opts: StartKafkaOptions): Promise<LocalKafka> {
  const log = opts.log ?? ((l: string) => console.error(l));
  const home = await ensureKafkaJars(log);
  const java = requireTool("java", "Install Java 17 or newer (Debian: apt-get install openjdk-17-jre-headless).");
  const root = opts.dataDir ?? cacheDir("kafka-data", String(opts.ports[0]));
  // A formatted node remembers its controller port: KRaft records the voters' endpoints.
  const specs: KafkaNode[] = opts.ports.map((port, i) => {
    const remembered = join(root, `node-${i + 1}`, "controller-port");
    const controllerPort = existsSync(remembered) ? Number(readFileSync(remembered, "utf8")) : freePort();
    return { nodeId: i + 1, port, controllerPort };
  });
  const id = formattedClusterId(specs.map((s) => join(root, `node-${s.nodeId}`, "data"))) ?? clusterId();
  const classpath = [`-cp`, `${join(home, "libs")}/*`, `-Dlog4j2.configurationFile=${join(home, "log4j2.properties")}`];
  const heap = opts.heap ?? "512m";

  const nodes = specs.map((spec) => {
    const dataDir = join(root, `node-${spec.nodeId}`);
    mkdirSync(dataDir, { recursive: true });
    const props = join(dataDir, "server.properties");
    const logFile = join(dataDir, "kafka.log");
    return { ...spec, dataDir, props, logFile, child: undefined as unknown as Child };
  });

  // The nodes are formatted side by side: each format is a JVM start of its own.
  await Promise.all(
    nodes.map(async (node) => {
      const metaDir = join(node.dataDir, "data");
      writeFileSync(node.props, properties(node, specs, metaDir, opts.overrides ?? {}, opts.security), { mode: 0o600 });
      if (existsSync(join(metaDir, "meta.properties"))) return;
      // A short-lived tool: the client compiler alone starts it sooner.
      const format = Bun.spawn(
        diesWithParent([
          java,
          "-XX:TieredStopAtLevel=1",
          ...classpath,
          "kafka.tools.StorageTool",
          "format",
          "-t",
          id,
          "-c",
          node.props,
          ...(nodes.length === 1 ? ["--standalone"] : []),
          // SCRAM users are records of the cluster's metadata: created here, before its first start.
          ...(opts.security ? [opts.security.broker, ...opts.security.users].flatMap((u) => ["--add-scram", `${SECURE_MECHANISM}=[name=${u.name},password=${u.password}]`]) : []),
          "-g",
        ]),
        { stdin: "ignore", stdout: "pipe", stderr: "pipe" },
      );
      const [out, err, code] = await Promise.all([new Response(format.stdout).text(), new Response(format.stderr).text(), format.exited]);
      if (code !== 0) throw new Error(`kafka: formatting ${metaDir} failed: ${err}${out}`);
      writeFileSync(join(node.dataDir, "controller-port"), String(node.controllerPort));
    }),
  );

  const launch = (node: (typeof nodes)[number]) => {
    node.child = startChild(`kafka-${node.nodeId}`, [java, `-Xms256m`, `-Xmx${heap}`, "-XX:+UseSerialGC", ...(opts.jvmOptions ?? []), ...classpath, "kafka.Kafka", node.props], {
      logFile: node.logFile,
    });
    return waitUntil(
      `kafka node ${node.nodeId} on port ${node.port}`,
      async () => (await Bun.file(node.logFile).text()).includes("Kafka Server started"),
      90_000,
      node.child,
      node.logFile,
    );
  };
  // A fresh log file per start, so readiness is read from this start's lines.
  const launchFresh = (node: (typeof nodes)[number]) => {
    writeFileSync(node.logFile, "");
    return launch(node);
  };

  try {
    await Promise.all(nodes.map(launchFresh));
  } catch (err) {
    await Promise.all(nodes.map((n) => n.child?.stop(5_000)));
    throw err;
  }

  const find = (nodeId: number) => {
    const node = nodes.find((n) => n.nodeId === nodeId);
    if (!node) throw new Error(`kafka: no node ${nodeId}`);
    return node;
  };
  return {
    brokers: nodes.map((n) => `localhost:${n.port}`).join(","),
    nodes,
    security: opts.security,
    async stop() {
      await Promise.all(nodes.map((n) => n.child.stop()));
    },
    stopNode: (nodeId) => find(nodeId).child.stop(),
    async startNode(nodeId) {
      const node = find(nodeId);
      if (node.child.proc.exitCode === null && node.child.proc.signalCode === null) return; // already running
      await launchFresh(node);
    },
    async killNode(nodeId) {
      const { proc } = find(nodeId).child;
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      proc.kill("SIGKILL");
      await proc.exited;
    },
  };
}

/** What `startKafkaCluster` sets on every broker: topics replicated 3 times, a write needs 2 in sync. */
export const CLUSTER_BROKER_DEFAULTS: Readonly<Record<string, number>> = {
  "default.replication.factor": 3,
  "min.insync.replicas": 2,
  "offsets.topic.replication.factor": 3,
  "transaction.state.log.replication.factor": 3,
  "transaction.state.log.min.isr": 2,
  "share.coordinator.state.topic.replication.factor": 3,
  "share.coordinator.state.topic.min.isr": 2,
};

export interface StartKafkaClusterOptions extends Omit<StartKafkaOptions, "ports"> {
  /** Three broker ports (the default: three free ports). */
  ports?: number[];
  /** Data folder; the default is a temporary folder, removed by `stop()`. */
  dataDir?: string;
  /** How long to wait until every broker is in the cluster's metadata; default 60 s. */
  readyTimeoutMs?: number;
}

/**
 * Three KRaft nodes, each broker and controller (a quorum of 3), whose topics default to
 * replication factor 3 and `min.insync.replicas` 2. Resolves once every broker is in the metadata.
 * For fault tests: `killNode(id)` (SIGKILL) or `stopNode(id)`, then `startNode(id)`.
 */
export async function startKafkaCluster(opts: StartKafkaClusterOptions = {}): Promise<LocalKafka> {
  const ports = opts.ports ?? [freePort(), freePort(), freePort()];
  if (ports.length !== 3) throw new Error(`kafka: a cluster has 3 brokers, not ${ports.length}`);
  const temporary = opts.dataDir ? undefined : mkdtempSync(join(tmpdir(), "btc-kafka-cluster-"));
  const removeTemporary = () => temporary && rmSync(temporary, { recursive: true, force: true });
  let kafka: LocalKafka;
  try {
    kafka = await startKafka({ ...opts, ports, dataDir: opts.dataDir ?? temporary, overrides: { ...CLUSTER_BROKER_DEFAULTS, ...opts.overrides } });
  } catch (err) {
    removeTemporary();
    throw err;
  }
  const stop = async () => {
    await kafka.stop();
    removeTemporary();
  };
  try {
    await waitForBrokers(kafka.brokers, ports.length, opts.readyTimeoutMs ?? 60_000, opts.security && clientSecurity(opts.security));
  } catch (err) {
    await stop();
    throw err;
  }
  return { ...kafka, stop };
}

/** Waits until the metadata at `brokers` lists `count` brokers. */
export async function waitForBrokers(brokers: string, count: number, timeoutMs = 60_000, security: Pick<KafkaConfig, "ssl" | "sasl"> = {}): Promise<void> {
  const admin = new Kafka({ clientId: "infra-ready", brokers: brokers.split(","), logLevel: logLevel.NOTHING, retry: { retries: 0 }, ...security }).admin();
  let seen = 0;
  try {
    await waitUntil(
      `${count} kafka brokers at ${brokers}`,
      async () => {
        try {
          await admin.connect();
          seen = (await admin.describeCluster()).brokers.length;
          return seen >= count;
        } catch {
          return false;
        }
      },
      timeoutMs,
    );
  } catch (err) {
    throw new Error(`${err instanceof Error ? err.message : err} (the metadata lists ${seen})`);
  } finally {
    await admin.disconnect().catch(() => {});
  }
}
