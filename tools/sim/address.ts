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
const LIMB = 58 ** 4;

function base58check(version: number, payload: Uint8Array): string {
  const bytes = new Uint8Array(payload.length + 5);
  bytes[0] = version;
  bytes.set(payload, 1);
  const checksum = Bun.SHA256.hash(Bun.SHA256.hash(bytes.subarray(0, payload.length + 1))) as Uint8Array;
  bytes.set(checksum.subarray(0, 4), payload.length + 1);
  // Base conversion 256 -> 58 on limbs of four base-58 digits (58^4 < 2^24, so limb * 256 + carry stays exact).
  const limbs: number[] = []; // least significant first
  for (let b = 0; b < bytes.length; b++) {
    let carry = bytes[b] as number;
    for (let i = 0; i < limbs.length; i++) {
      carry += (limbs[i] as number) * 256;
      limbs[i] = carry % LIMB;
      carry = Math.floor(carry / LIMB);
    }
    for (; carry; carry = Math.floor(carry / LIMB)) limbs.push(carry % LIMB);
  }
  let digits = "";
  for (const limb of limbs) {
    let l = limb;
    for (let j = 0; j < 4; j++, l = Math.floor(l / 58)) digits = BASE58[l % 58] + digits;
  }
  digits = digits.replace(/^1+/, ""); // the top limb's zero padding
  let zeros = "";
  for (let b = 0; b < bytes.length && !bytes[b]; b++) {
    zeros += "1"; // each leading zero byte is a leading '1'
  }
  return zeros + digits;
}

const BECH32 = "qpzry9x8gf2tvdw0s3jn54khce6mua7l";
/** The human-readable part "bc" expanded for the checksum: high bits, 0, low bits. */
const HRP = [3, 3, 0, 2, 3];

function polymod(values: number[]): number {
  let chk = 1;
  for (let i = 0; i < values.length; i++) {
    const top = chk >>> 25;
    chk = ((chk & 0x1ffffff) << 5) ^ (values[i] as number);
    if (top & 1) chk ^= 0x3b6a57b2;
    if (top & 2) chk ^= 0x26508e6d;
    if (top & 4) chk ^= 0x1ea119fa;
    if (top & 8) chk ^= 0x3d4233dd;
    if (top & 16) chk ^= 0x2a1462b3;
  }
  return chk >>> 0;
}

/** BIP 173 (witness v0, bech32) and BIP 350 (v1+, bech32m) for hrp "bc". */
function segwit(version: number, program: Uint8Array): string {
  const data = [version];
  let acc = 0;
  let bits = 0;
  for (let b = 0; b < program.length; b++) {
    acc = ((acc << 8) | (program[b] as number)) & 0xfff; // the bits not yet emitted fit in 12
    bits += 8;
    for (; bits >= 5; bits -= 5) data.push((acc >>> (bits - 5)) & 31);
  }
  if (bits) data.push((acc << (5 - bits)) & 31);
  const mod = polymod([...HRP, ...data, 0, 0, 0, 0, 0, 0]) ^ (version === 0 ? 1 : 0x2bc830a3);
  for (let i = 0; i < 6; i++) data.push((mod >>> (5 * (5 - i))) & 31);
  let out = "bc1";
  for (let i = 0; i < data.length; i++) out += BECH32[data[i] as number];
  return out;
}
