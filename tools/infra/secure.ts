/**
 * What `bun run infra --secure` and the secure tests need that a plaintext stack does not: a
 * certificate authority of their own, a certificate for the servers (Kafka and Redis, both on
 * this machine) and one for a client (mutual TLS), and generated passwords, one file each.
 *
 * Everything is made with openssl into a folder the caller names (a cache or temporary folder,
 * never the repository's tracked files), private keys and password files readable by their
 * owner only. A folder that already holds them is reused as it is: a broker formatted with
 * SCRAM users keeps their passwords in its metadata, so the files must outlive a restart.
 */
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { MissingToolError } from "./kafka.ts";
import { which } from "./process.ts";

export interface Certificates {
  readonly dir: string;
  /** The certificate authority's certificate (PEM): what clients trust (KAFKA_CA_FILE, REDIS_CA_FILE). */
  readonly ca: string;
  /** The servers' certificate, for `localhost` and 127.0.0.1, signed by the CA. */
  readonly serverCert: string;
  readonly serverKey: string;
  /** Key then certificate in one PEM file: the broker's keystore (`ssl.keystore.type=PEM`). */
  readonly serverKeystore: string;
  /** A client certificate signed by the CA, for mutual TLS (KAFKA_CERT_FILE, REDIS_CERT_FILE). */
  readonly clientCert: string;
  readonly clientKey: string;
}

function openssl(args: string[], cwd: string): void {
  const bin = which("openssl");
  if (!bin) throw new MissingToolError("openssl not found: the secure stack makes its certificates with it (Debian: apt-get install openssl).");
  const run = Bun.spawnSync([bin, ...args], { cwd, stdout: "pipe", stderr: "pipe" });
  if (run.exitCode !== 0) throw new Error(`openssl ${args[0]} failed: ${run.stderr.toString().trim()}`);
}

/**
 * Makes (or finds) a CA, a server certificate and a client certificate in `dir`. The server
 * certificate is for `localhost` and 127.0.0.1, and the other host names given (compose's
 * service names).
 */
export function makeCertificates(dir: string, opts: { days?: number; hosts?: readonly string[] } = {}): Certificates {
  const days = opts.days ?? 825;
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const at = (name: string) => join(dir, name);
  const certs: Certificates = {
    dir,
    ca: at("ca.pem"),
    serverCert: at("server.pem"),
    serverKey: at("server.key"),
    serverKeystore: at("server-keystore.pem"),
    clientCert: at("client.pem"),
    clientKey: at("client.key"),
  };
  const done = at(".complete");
  if (existsSync(done)) return certs;

  const d = String(days);
  openssl(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", d, "-subj", "/CN=btc-stream local CA"], dir);
  const names = ["DNS:localhost", "IP:127.0.0.1", ...(opts.hosts ?? []).map((h) => `DNS:${h}`)];
  writeFileSync(at("server.ext"), `subjectAltName=${names.join(",")}\nextendedKeyUsage=serverAuth,clientAuth\n`);
  writeFileSync(at("client.ext"), "extendedKeyUsage=clientAuth\n");
  for (const [name, subject] of [
    ["server", "/CN=localhost"],
    ["client", "/CN=btc-stream client"],
  ] as const) {
    openssl(["req", "-newkey", "rsa:2048", "-nodes", "-keyout", `${name}.key`, "-out", `${name}.csr`, "-subj", subject], dir);
    openssl(["x509", "-req", "-in", `${name}.csr`, "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-out", `${name}.pem`, "-days", d, "-extfile", `${name}.ext`], dir);
  }
  writeFileSync(certs.serverKeystore, readFileSync(certs.serverKey, "utf8") + readFileSync(certs.serverCert, "utf8"));
  for (const key of ["ca.key", "server.key", "client.key", "server-keystore.pem"]) chmodSync(at(key), 0o600);
  writeFileSync(done, new Date().toISOString());
  return certs;
}

/** A random password: 64 hex digits (URL-safe, and safe in a JAAS line or an ACL rule). */
export const newPassword = (): string => Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString("hex");

export interface Secret {
  readonly name: string;
  /** The file holding it (for `_FILE` variables and compose secrets). */
  readonly file: string;
  readonly value: string;
}

/** The password called `name` in `dir` (`<name>.password`), made on first use, readable by its owner only. */
export function secret(dir: string, name: string): Secret {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const file = join(dir, `${name}.password`);
  if (!existsSync(file)) writeFileSync(file, `${newPassword()}\n`, { mode: 0o600 });
  return { name, file, value: readFileSync(file, "utf8").trim() };
}
