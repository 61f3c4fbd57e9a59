/**
 * Kafka over TLS and SASL: the kafkajs options the configuration asks for, and the one line that
 * names a setting the broker refused.
 *
 * A wrong password, a mechanism the broker does not offer, a certificate that is not trusted,
 * TLS against a plaintext port (or the reverse) are not outages: retrying changes nothing. So
 * the client factory (./client.ts) stops the process on them with one line that says which
 * setting and what the broker answered, and never the password. Where kafkajs' error alone is
 * ambiguous ("Closed connection", a TLS handshake cut short: a broker restarting does that too),
 * a second connection in the other protocol settles it: the port answers Kafka in plaintext, or
 * completes a TLS handshake, or the error is left to the usual retries.
 */
import { readFileSync } from "node:fs";
import { connect as connectTcp, isIP } from "node:net";
import { type ConnectionOptions, connect as connectTls } from "node:tls";
import type { KafkaConfig, SASLOptions } from "kafkajs";
import type { Config } from "../domain/config.ts";

/** The variables of Kafka's TLS and SASL. */
export type KafkaSecuritySettings = Pick<
  Config,
  | "KAFKA_TLS"
  | "KAFKA_CA_FILE"
  | "KAFKA_CERT_FILE"
  | "KAFKA_KEY_FILE"
  | "KAFKA_SASL_MECHANISM"
  | "KAFKA_SASL_USERNAME"
  | "KAFKA_SASL_USERNAME_FILE"
  | "KAFKA_SASL_PASSWORD"
  | "KAFKA_SASL_PASSWORD_FILE"
>;

/** kafkajs' `ssl` and `sasl` options from the configuration (nothing when neither is asked for). */
export function kafkaSecurity(config: Partial<KafkaSecuritySettings>): Pick<KafkaConfig, "ssl" | "sasl"> {
  const options: Pick<KafkaConfig, "ssl" | "sasl"> = {};
  if (config.KAFKA_TLS === "true") {
    const read = (path: string | undefined) => (path ? readFileSync(path, "utf8") : undefined);
    const [ca, cert, key] = [read(config.KAFKA_CA_FILE), read(config.KAFKA_CERT_FILE), read(config.KAFKA_KEY_FILE)];
    // Without a CA file, the system's authorities (a managed service's certificate is public).
    options.ssl = ca || cert ? { ...(ca ? { ca: [ca] } : {}), ...(cert ? { cert, key } : {}) } : true;
  }
  if (config.KAFKA_SASL_MECHANISM) {
    options.sasl = {
      mechanism: config.KAFKA_SASL_MECHANISM.toLowerCase(),
      username: config.KAFKA_SASL_USERNAME ?? "",
      password: config.KAFKA_SASL_PASSWORD ?? "",
    } as SASLOptions;
  }
  return options;
}

/** An error as kafkajs throws it: its retries wrap the last error in `cause`. */
interface KafkaError {
  name?: string;
  message?: string;
  type?: string;
  code?: string | number;
  broker?: string;
  cause?: unknown;
}

/** The innermost error kafkajs kept (the connection error under "retries exceeded"). */
function innermost(err: unknown): KafkaError {
  let e = err as KafkaError;
  for (let depth = 0; depth < 5 && e?.cause && typeof e.cause === "object"; depth++) e = e.cause as KafkaError;
  return e ?? {};
}

/** TLS verification errors: the broker's certificate is not trusted, or is not for that host. */
const UNTRUSTED = new Set([
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "SELF_SIGNED_CERT_IN_CHAIN",
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "UNABLE_TO_GET_ISSUER_CERT",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "CERT_SIGNATURE_FAILURE",
  "CERT_UNTRUSTED",
  "CERT_HAS_EXPIRED",
  "CERT_NOT_YET_VALID",
  "ERR_TLS_CERT_ALTNAME_INVALID",
]);

const quote = (text: string | undefined) => JSON.stringify(text ?? "");

/** `KAFKA_X="value"`, or `KAFKA_X_FILE="path"` when the value came from a file; never a password. */
function named(config: Partial<KafkaSecuritySettings>, name: "KAFKA_SASL_USERNAME" | "KAFKA_SASL_PASSWORD"): string {
  const file = config[`${name}_FILE`];
  if (file) return `${name}_FILE=${quote(file)}`;
  return name === "KAFKA_SASL_PASSWORD" ? name : `${name}=${quote(config[name])}`;
}

function hostPort(address: string): { host: string; port: number } {
  const i = address.lastIndexOf(":");
  return { host: address.slice(0, i), port: Number(address.slice(i + 1)) };
}

/** What a broker did with an ApiVersions request: answered it, or not (and the socket's error, if any). */
interface ApiVersionsProbe {
  answered: boolean;
  error?: string;
}

/**
 * Sends a Kafka ApiVersions request to `address`, in plaintext or over TLS with `tls` (the
 * client's own options: CA, certificate), and says whether the broker answered it.
 */
export function probeApiVersions(address: string, tls?: ConnectionOptions, timeoutMs = 3_000): Promise<ApiVersionsProbe> {
  const { host, port } = hostPort(address);
  return new Promise((done) => {
    const socket = tls ? connectTls({ host, port, ...(isIP(host) ? {} : { servername: host }), ...tls }) : connectTcp({ host, port });
    let error: string | undefined;
    const finish = (answered: boolean) => {
      clearTimeout(timer);
      socket.destroy();
      done({ answered, ...(error ? { error } : {}) });
    };
    const correlationId = 0x0b7c;
    const clientId = Buffer.from("btc-probe");
    // ApiVersions v0: size, api key 18, version 0, correlation id, client id; no body.
    const request = Buffer.alloc(4 + 2 + 2 + 4 + 2 + clientId.length);
    request.writeInt32BE(request.length - 4, 0);
    request.writeInt16BE(18, 4);
    request.writeInt16BE(0, 6);
    request.writeInt32BE(correlationId, 8);
    request.writeInt16BE(clientId.length, 12);
    clientId.copy(request, 14);
    let got = Buffer.alloc(0);
    // A timer of its own: a socket's idle timeout did not always fire under Bun.
    const timer = setTimeout(() => finish(false), timeoutMs);
    socket.once(tls ? "secureConnect" : "connect", () => socket.write(request));
    socket.on("data", (chunk: Buffer) => {
      got = Buffer.concat([got, chunk]);
      if (got.length >= 8) finish(got.readInt32BE(4) === correlationId);
    });
    socket.once("error", (err: Error) => {
      error = err.message;
      finish(false);
    });
    socket.once("close", () => finish(false));
  });
}

/** Whether `address` completes a TLS handshake (whatever its certificate). */
export function answersTls(address: string, timeoutMs = 3_000): Promise<boolean> {
  const { host, port } = hostPort(address);
  return new Promise((done) => {
    const socket = connectTls({ host, port, rejectUnauthorized: false, ...(isIP(host) ? {} : { servername: host }) });
    const finish = (ok: boolean) => {
      clearTimeout(timer);
      socket.destroy();
      done(ok);
    };
    // A timer of its own: a socket's idle timeout did not always fire under Bun.
    const timer = setTimeout(() => finish(false), timeoutMs);
    socket.once("secureConnect", () => finish(true));
    socket.once("error", () => finish(false));
    socket.once("close", () => finish(false));
  });
}

/**
 * One line naming the setting the broker refused and what it answered, or undefined when `err`
 * is not a refusal of the settings (a broker away, a timeout: the caller retries as usual).
 */
export async function describeRefusal(err: unknown, config: Pick<Config, "KAFKA_BROKERS"> & Partial<KafkaSecuritySettings>): Promise<string | undefined> {
  const outer = (err ?? {}) as KafkaError;
  const inner = innermost(err);
  const message = inner.message ?? outer.message ?? String(err);
  const broker = inner.broker ?? outer.broker ?? config.KAFKA_BROKERS;
  const at = `the broker at ${broker}`;
  const mechanism = config.KAFKA_SASL_MECHANISM;
  const tls = config.KAFKA_TLS === "true";

  if (inner.name === "KafkaJSSASLAuthenticationError" || outer.name === "KafkaJSSASLAuthenticationError") {
    if (/mechanism is not supported/.test(message)) return `kafka: ${at} does not offer KAFKA_SASL_MECHANISM=${mechanism}: ${quote(message)}`;
    return `kafka: ${at} refused ${named(config, "KAFKA_SASL_USERNAME")} with ${named(config, "KAFKA_SASL_PASSWORD")} over KAFKA_SASL_MECHANISM=${mechanism}: ${quote(message)}`;
  }
  if (inner.type === "UNSUPPORTED_SASL_MECHANISM") return `kafka: ${at} does not offer KAFKA_SASL_MECHANISM=${mechanism}: ${quote(message)}`;
  if (inner.type === "ILLEGAL_SASL_STATE") {
    return `kafka: KAFKA_SASL_MECHANISM=${mechanism} is set, but ${at} takes no SASL on that listener: ${quote(message)}`;
  }
  if (inner.type === "SASL_AUTHENTICATION_FAILED") {
    return `kafka: ${at} refused ${named(config, "KAFKA_SASL_USERNAME")} with ${named(config, "KAFKA_SASL_PASSWORD")} over KAFKA_SASL_MECHANISM=${mechanism}: ${quote(message)}`;
  }
  const code = typeof inner.code === "string" ? inner.code : undefined;
  if (tls && code && UNTRUSTED.has(code)) {
    const trust = config.KAFKA_CA_FILE ? `KAFKA_CA_FILE=${quote(config.KAFKA_CA_FILE)}` : "the system's certificate authorities (KAFKA_CA_FILE is not set)";
    const what = code === "ERR_TLS_CERT_ALTNAME_INVALID" ? "is not for that host name" : `is not trusted by ${trust}`;
    return `kafka: the TLS certificate of ${at} ${what}: ${quote(message)} (${code})`;
  }
  const address = inner.broker ?? outer.broker ?? config.KAFKA_BROKERS.split(",")[0] ?? "";
  const cert = () => (config.KAFKA_CERT_FILE ? `KAFKA_CERT_FILE=${quote(config.KAFKA_CERT_FILE)}` : "no client certificate (KAFKA_CERT_FILE is not set)");
  if (tls && /alert|handshake failure|bad certificate|certificate required|unknown ca/i.test(message)) {
    return `kafka: the broker at ${address} refused the TLS handshake with ${cert()}: ${quote(message)}`;
  }
  if (tls && /before secure TLS connection|ECONNRESET|wrong version number|packet length too long|socket hang up|Closed connection/i.test(message)) {
    if ((await probeApiVersions(address)).answered) return `kafka: KAFKA_TLS=true, but the broker at ${address} answers in plaintext: ${quote(message)}`;
    // TLS 1.3 ends the handshake before the broker checks the client's certificate: a broker
    // that wants one it trusts closes the connection at the first request, over TLS, every time.
    const ssl = kafkaSecurity(config).ssl;
    const overTls = await probeApiVersions(address, typeof ssl === "object" ? (ssl as ConnectionOptions) : {});
    if (!overTls.answered && (await answersTls(address))) {
      return `kafka: the broker at ${address} refused the TLS handshake with ${cert()}: ${quote(overTls.error ?? message)}`;
    }
  }
  if (!tls && /Closed connection|Connection closed|ECONNRESET/i.test(message)) {
    if (await answersTls(address)) return `kafka: KAFKA_TLS=false, but the broker at ${address} speaks TLS (it closed the connection at the first request): ${quote(message)}`;
  }
  return undefined;
}
