import { describe, expect, test } from "bun:test";
import { ConfigError, EnvSchema, loadConfig } from "../src/domain/config.ts";
import { configTable, README, readmeTable } from "../tools/docs/config-table.ts";

describe("configuration", () => {
  test("applies the contract's defaults", () => {
    const config = loadConfig({});
    expect(config.KAFKA_BROKERS).toBe("localhost:9092");
    expect(config.REDIS_URL).toBe("redis://localhost:6379");
    expect(config.FEED_URL).toBe("wss://ws.blockchain.info/inv");
    expect(config.PORT).toBe(3000);
    expect(config.TOPIC).toBe("bitcoin_transactions");
    expect(config.PARTITIONER).toBe("minute");
    expect(config.PRODUCER_BUFFER_MAX).toBe(100_000);
    expect(config.PRODUCER_BUFFER_BYTES).toBe(67_108_864);
  });

  test("converts numbers and keeps given values", () => {
    const config = loadConfig({ PORT: "8080", PARTITIONER: "hash", KAFKA_BROKERS: "a:1,b:2" });
    expect(config.PORT).toBe(8080);
    expect(config.PARTITIONER).toBe("hash");
    expect(config.KAFKA_BROKERS).toBe("a:1,b:2");
  });

  test("an empty variable means the default", () => {
    expect(loadConfig({ PORT: "" }).PORT).toBe(3000);
  });

  const bad: [string, string, RegExp][] = [
    ["PORT", "abc", /^config: PORT="abc" is not allowed; expected HTTP port of the API: an integer from 1 to 65535$/],
    ["PORT", "70000", /PORT="70000" is not allowed; expected .*an integer from 1 to 65535/],
    ["PORT", "3.5", /PORT="3.5" is not allowed/],
    ["PARTITIONER", "random", /^config: PARTITIONER="random" is not allowed; expected how records are routed to partitions: one of minute, hash$/],
    ["KAFKA_BROKERS", "localhost", /KAFKA_BROKERS="localhost" is not allowed; expected .*host:port/],
    ["REDIS_URL", "localhost:6379", /REDIS_URL="localhost:6379" is not allowed; expected .*redis:\/\//],
    ["FEED_URL", "http://x", /FEED_URL="http:\/\/x" is not allowed; expected .*ws:\/\//],
    ["TOPIC_RETENTION_HOURS", "3", /TOPIC_RETENTION_HOURS="3" is not allowed; expected .*from 4 to/],
    ["PRODUCER_BUFFER_BYTES", "999999", /^config: PRODUCER_BUFFER_BYTES="999999" is not allowed; expected bytes of records .*: an integer from 1000000 to 17179869184$/],
    ["PRODUCER_BUFFER_BYTES", "64MB", /PRODUCER_BUFFER_BYTES="64MB" is not allowed/],
  ];
  for (const [name, value, message] of bad) {
    test(`rejects ${name}=${value} with one line naming it`, () => {
      let error: unknown;
      try {
        loadConfig({ [name]: value });
      } catch (err) {
        error = err;
      }
      expect(error).toBeInstanceOf(ConfigError);
      const { message: text, variable } = error as ConfigError;
      expect(variable).toBe(name);
      expect(text).toMatch(message);
      expect(text).not.toContain("\n");
    });
  }

  test("a role stops with exit status 2 and that one line", () => {
    const proc = Bun.spawnSync([process.execPath, "tools/infra/main.ts"], { env: { ...process.env, PORT: "nope" }, stderr: "pipe" });
    expect(proc.exitCode).toBe(2);
    expect(proc.stderr.toString().trim()).toBe('config: PORT="nope" is not allowed; expected HTTP port of the API: an integer from 1 to 65535');
  });
});

describe("the README's configuration table", () => {
  test("is the one generated from the schema (`bun run docs:config` writes it)", async () => {
    const held = readmeTable(await Bun.file(README).text());
    expect(held).toBeDefined();
    expect(held).toBe(configTable());
  });

  test("lists every variable the schema knows, with its default", () => {
    const table = configTable();
    for (const [name, schema] of Object.entries(EnvSchema.properties)) {
      const row = table.split("\n").find((l) => l.startsWith(`| \`${name}\` |`));
      expect(row).toBeDefined();
      expect(row).toContain(schema.default === "" ? "*(empty)*" : `\`${schema.default}\``);
    }
  });
});
