/**
 * Well-formed Bitcoin mainnet addresses with their output scripts: base58check P2PKH (`1...`)
 * and P2SH (`3...`), bech32 P2WPKH / P2WSH (`bc1q...`) and bech32m P2TR (`bc1p...`). The payload
 * is random (no key behind it); the encoding and checksum are real.
 */
export type AddressType = "p2pkh" | "p2sh" | "p2wpkh" | "p2wsh" | "p2tr";

export interface Address {
  addr: string;
  /** The output script paying to it, hex. */
  script: string;
}

const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");

export function encodeAddress(type: AddressType, payload: Uint8Array): Address {
  const short = payload.subarray(0, 20);
  switch (type) {
    case "p2pkh":
      return { addr: base58check(0x00, short), script: `76a914${hex(short)}88ac` };
    case "p2sh":
      return { addr: base58check(0x05, short), script: `a914${hex(short)}87` };
    case "p2wpkh":
      return { addr: segwit(0, short), script: `0014${hex(short)}` };
    case "p2wsh":
      return { addr: segwit(0, payload), script: `0020${hex(payload)}` };
    case "p2tr":
      return { addr: segwit(1, payload), script: `5120${hex(payload)}` };
  }
}

const BASE58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";
const LIMB = 58 ** 3;

/** Scratch space for the checksum's double SHA-256 (one call at a time). */
const DIGEST = new Uint8Array(32);

function base58check(version: number, payload: Uint8Array): string {
  const bytes = new Uint8Array(payload.length + 5);
  bytes[0] = version;
  bytes.set(payload, 1);
  Bun.SHA256.hash(bytes.subarray(0, payload.length + 1), DIGEST);
  Bun.SHA256.hash(DIGEST, DIGEST);
  bytes.set(DIGEST.subarray(0, 4), payload.length + 1);
  const limbs = new Int32Array((bytes.length >> 1) + 1); // a limb holds more than two bytes' worth
  // Base conversion 256 -> 58 on limbs of three base-58 digits (58^3 * 256 < 2^31, so the arithmetic stays on small integers).
  let used = 0; // limbs in use, least significant first
  for (let b = 0; b < bytes.length; b++) {
    let carry = bytes[b] as number;
    for (let i = 0; i < used; i++) {
      carry += (limbs[i] as number) * 256;
      limbs[i] = carry % LIMB;
      carry = (carry / LIMB) | 0;
    }
    for (; carry; carry = (carry / LIMB) | 0) limbs[used++] = carry % LIMB;
  }
  const chars: string[] = [];
  for (let b = 0; b < bytes.length && !bytes[b]; b++) chars.push("1"); // each leading zero byte is a leading '1'
  let leading = true; // the top limb's zero padding is dropped
  for (let i = used - 1; i >= 0; i--) {
    const l = limbs[i] as number;
    for (const digit of [(l / (58 * 58)) | 0, ((l / 58) | 0) % 58, l % 58]) {
      if (leading && digit === 0) continue;
      leading = false;
      chars.push(BASE58.charAt(digit));
    }
  }
  return chars.join("");
}

const BECH32 = "qpzry9x8gf2tvdw0s3jn54khce6mua7l";
/** The human-readable part "bc" expanded for the checksum: high bits, 0, low bits. */
const HRP = [3, 3, 0, 2, 3];

/** One step of the BCH checksum over a 5-bit value. */
function polymodStep(chk: number, value: number): number {
  const top = chk >>> 25;
  chk = ((chk & 0x1ffffff) << 5) ^ value;
  if (top & 1) chk ^= 0x3b6a57b2;
  if (top & 2) chk ^= 0x26508e6d;
  if (top & 4) chk ^= 0x1ea119fa;
  if (top & 8) chk ^= 0x3d4233dd;
  if (top & 16) chk ^= 0x2a1462b3;
  return chk;
}

/** BIP 173 (witness v0, bech32) and BIP 350 (v1+, bech32m) for hrp "bc". */
function segwit(version: number, program: Uint8Array): string {
  let chk = 1;
  for (const v of HRP) chk = polymodStep(chk, v);
  const out = ["bc1"];
  const emit = (v: number) => {
    chk = polymodStep(chk, v);
    out.push(BECH32[v] as string);
  };
  emit(version);
  let acc = 0;
  let bits = 0;
  for (let b = 0; b < program.length; b++) {
    acc = ((acc << 8) | (program[b] as number)) & 0xfff; // the bits not yet emitted fit in 12
    bits += 8;
    for (; bits >= 5; bits -= 5) emit((acc >>> (bits - 5)) & 31);
  }
  if (bits) emit((acc << (5 - bits)) & 31);
  for (let i = 0; i < 6; i++) chk = polymodStep(chk, 0);
  const mod = (chk >>> 0) ^ (version === 0 ? 1 : 0x2bc830a3);
  for (let i = 0; i < 6; i++) out.push(BECH32[(mod >>> (5 * (5 - i))) & 31] as string);
  return out.join("");
}
