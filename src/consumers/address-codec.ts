/**
 * Bitcoin addresses as compact bytes, for the stored transaction bodies (src/consumers/body.ts).
 *
 * A mainnet address is mostly an encoding of a 20- or 32-byte hash: 34 to 62 characters become
 * 21 to 33 bytes. `packAddress` keeps only the payload for the standard kinds, in their canonical
 * text only; anything else (testnet, upper case, odd feed values) is kept as its UTF-8 text. So
 * the round trip is exact for every string. No hashing on either side: a base58 checksum is kept
 * (4 bytes) rather than recomputed, a bech32 checksum is checked (cheap) and recomputed.
 *
 *   tag 1 + 24 bytes   P2PKH  base58check, version 0x00 ("1..."): hash and checksum
 *   tag 2 + 24 bytes   P2SH   base58check, version 0x05 ("3..."): hash and checksum
 *   tag 3 + 20 bytes   P2WPKH bech32,  witness v0 ("bc1q...", 42 chars)
 *   tag 4 + 32 bytes   P2WSH  bech32,  witness v0 ("bc1q...", 62 chars)
 *   tag 5 + 32 bytes   P2TR   bech32m, witness v1 ("bc1p...", 62 chars)
 *   tag 6 + varint n + n bytes  any other text
 *   tag 0              no address (null)
 */
import { createHash } from "node:crypto";

const B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";
const B58_INDEX = new Int16Array(128).fill(-1);
for (let i = 0; i < B58.length; i++) B58_INDEX[B58.charCodeAt(i)] = i;

const sha256d = (bytes: Uint8Array) => createHash("sha256").update(createHash("sha256").update(bytes).digest()).digest();

/** Base58 text of a 25-byte value (version, 20-byte hash, 4-byte checksum) -> its bytes, or null. */
function base58Decode25(text: string): Uint8Array | null {
  const out = new Uint8Array(25);
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    let carry = code < 128 ? (B58_INDEX[code] as number) : -1;
    if (carry < 0) return null;
    for (let j = 24; j >= 0; j--) {
      carry += (out[j] as number) * 58;
      out[j] = carry & 0xff;
      carry >>= 8;
    }
    if (carry !== 0) return null; // more than 25 bytes
  }
  return out;
}

function base58Encode(bytes: Uint8Array): string {
  const digits = new Uint8Array(bytes.length * 2); // base58 digits, least significant first
  let length = 0;
  for (let i = 0; i < bytes.length; i++) {
    let carry = bytes[i] as number;
    for (let j = 0; j < length; j++) {
      carry += (digits[j] as number) << 8;
      digits[j] = carry % 58;
      carry = (carry / 58) | 0;
    }
    while (carry > 0) {
      digits[length++] = carry % 58;
      carry = (carry / 58) | 0;
    }
  }
  let out = "";
  for (let i = 0; i < bytes.length && bytes[i] === 0; i++) out += "1";
  for (let i = length - 1; i >= 0; i--) out += B58[digits[i] as number];
  return out;
}

// ---- bech32 / bech32m (BIP 173, BIP 350) -------------------------------------------------------

const B32 = "qpzry9x8gf2tvdw0s3jn54khce6mua7l";
const B32_INDEX = new Int8Array(128).fill(-1);
for (let i = 0; i < B32.length; i++) B32_INDEX[B32.charCodeAt(i)] = i;
const BECH32 = 1;
const BECH32M = 0x2bc830a3;
const HRP = "bc";

const GEN = [0x3b6a57b2, 0x26508e6d, 0x1ea119fa, 0x3d4233dd, 0x2a1462b3];

/** One step of the bech32 checksum. */
function polymodStep(chk: number, value: number): number {
  const top = chk >>> 25;
  let next = ((chk & 0x1ffffff) << 5) ^ value;
  for (let i = 0; i < 5; i++) if ((top >>> i) & 1) next ^= GEN[i] as number;
  return next;
}

/** The checksum state after the expanded human-readable part "bc". */
const HRP_STATE = (() => {
  let chk = 1;
  for (const c of HRP) chk = polymodStep(chk, c.charCodeAt(0) >> 5);
  chk = polymodStep(chk, 0);
  for (const c of HRP) chk = polymodStep(chk, c.charCodeAt(0) & 31);
  return chk;
})();

/** A lower-case mainnet segwit address -> [witness version, program], or null. */
function segwitDecode(text: string): [number, Uint8Array] | null {
  const n = text.length;
  if (n < 14 || n > 90 || text.charCodeAt(0) !== 98 || text.charCodeAt(1) !== 99 || text.charCodeAt(2) !== 49) return null; // "bc1"
  const data = new Uint8Array(n - 3);
  let chk = HRP_STATE;
  for (let i = 3; i < n; i++) {
    const code = text.charCodeAt(i);
    const v = code < 128 ? (B32_INDEX[code] as number) : -1;
    if (v < 0) return null;
    data[i - 3] = v;
    chk = polymodStep(chk, v);
  }
  const version = data[0] as number;
  if (chk >>> 0 !== (version === 0 ? BECH32 : BECH32M)) return null;
  // 5-bit groups -> bytes, with zero padding of fewer than 5 bits (BIP 173).
  const groups = data.length - 7;
  const program = new Uint8Array(Math.floor((groups * 5) / 8));
  let acc = 0;
  let bits = 0;
  let o = 0;
  for (let i = 1; i <= groups; i++) {
    acc = ((acc << 5) | (data[i] as number)) & 0xfff;
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      program[o++] = (acc >> bits) & 0xff;
    }
  }
  if (bits >= 5 || (acc & ((1 << bits) - 1)) !== 0) return null;
  return [version, program];
}

function segwitEncode(version: number, program: Uint8Array): string {
  let out = `${HRP}1${B32[version]}`;
  let chk = polymodStep(HRP_STATE, version);
  let acc = 0;
  let bits = 0;
  const push = (d: number) => {
    out += B32[d];
    chk = polymodStep(chk, d);
  };
  for (let i = 0; i < program.length; i++) {
    acc = ((acc << 8) | (program[i] as number)) & 0xffff;
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      push((acc >> bits) & 31);
    }
  }
  if (bits > 0) push((acc << (5 - bits)) & 31);
  for (let i = 0; i < 6; i++) chk = polymodStep(chk, 0);
  const mod = (chk ^ (version === 0 ? BECH32 : BECH32M)) >>> 0;
  for (let i = 0; i < 6; i++) out += B32[(mod >>> (5 * (5 - i))) & 31];
  return out;
}

// ---- tags --------------------------------------------------------------------------------------

const TAG_NULL = 0;
const TAG_P2PKH = 1;
const TAG_P2SH = 2;
const TAG_P2WPKH = 3;
const TAG_P2WSH = 4;
const TAG_P2TR = 5;
const TAG_TEXT = 6;

function tryPack(address: string): Uint8Array | null {
  const first = address[0];
  if ((first === "1" || first === "3") && address.length >= 26 && address.length <= 35) {
    const raw = base58Decode25(address);
    if (!raw || (raw[0] !== 0x00 && raw[0] !== 0x05)) return null;
    // Canonical text only: as many leading '1's as leading zero bytes.
    let ones = 0;
    while (address[ones] === "1") ones++;
    let zeros = 0;
    while (zeros < 25 && raw[zeros] === 0) zeros++;
    if (ones !== zeros) return null;
    // The checksum is kept as it is (not verified): the text comes back exactly, valid or not.
    const out = new Uint8Array(25);
    out.set(raw);
    out[0] = raw[0] === 0x00 ? TAG_P2PKH : TAG_P2SH;
    return out;
  }
  if (address.startsWith("bc1")) {
    const decoded = segwitDecode(address);
    if (!decoded) return null;
    const [version, program] = decoded;
    const tag = version === 0 && program.length === 20 ? TAG_P2WPKH : version === 0 && program.length === 32 ? TAG_P2WSH : version === 1 && program.length === 32 ? TAG_P2TR : -1;
    if (tag < 0) return null;
    const out = new Uint8Array(1 + program.length);
    out[0] = tag;
    out.set(program, 1);
    return out;
  }
  return null;
}

const TEXT_ENCODER = new TextEncoder();
const NULL_PACKED = Uint8Array.of(TAG_NULL);
const packedCache = new Map<string, Uint8Array>();
/** Addresses are reused heavily (a few hot ones, a long tail): the recent ones are kept packed. */
const PACKED_CACHE_MAX = 200_000;

/** The packed form of `address` (cached; do not modify the result). */
export function packedAddress(address: string | null): Uint8Array {
  if (address === null) return NULL_PACKED;
  let packed = packedCache.get(address);
  if (!packed) {
    const out: number[] = [];
    packAddress(address, out);
    packed = Uint8Array.from(out);
    if (packedCache.size >= PACKED_CACHE_MAX) packedCache.delete(packedCache.keys().next().value as string);
    packedCache.set(address, packed);
  }
  return packed;
}

/** Appends the packed form of `address` to `out`. */
export function packAddress(address: string | null, out: number[]): void {
  if (address === null) {
    out.push(TAG_NULL);
    return;
  }
  // tryPack accepts canonical text only (checked leading '1's; bech32 checksum, lower case and
  // padding), so the packed form always unpacks to exactly `address` (test/consumer-codec.test.ts).
  const packed = tryPack(address);
  if (packed) {
    for (let i = 0; i < packed.length; i++) out.push(packed[i] as number);
    return;
  }
  const text = TEXT_ENCODER.encode(address);
  out.push(TAG_TEXT);
  writeVarint(text.length, out);
  for (const b of text) out.push(b);
}

/** Reads an address packed at `offset`; returns it and the offset after it. */
export function unpackAddress(bytes: Uint8Array, offset: number): [string | null, number] {
  const tag = bytes[offset];
  const at = offset + 1;
  switch (tag) {
    case TAG_NULL:
      return [null, at];
    case TAG_P2PKH:
    case TAG_P2SH: {
      const raw = new Uint8Array(25);
      raw[0] = tag === TAG_P2PKH ? 0x00 : 0x05;
      raw.set(bytes.subarray(at, at + 24), 1);
      return [base58Encode(raw), at + 24];
    }
    case TAG_P2WPKH:
      return [segwitEncode(0, bytes.subarray(at, at + 20)), at + 20];
    case TAG_P2WSH:
      return [segwitEncode(0, bytes.subarray(at, at + 32)), at + 32];
    case TAG_P2TR:
      return [segwitEncode(1, bytes.subarray(at, at + 32)), at + 32];
    case TAG_TEXT: {
      const [n, after] = readVarint(bytes, at);
      return [new TextDecoder().decode(bytes.subarray(after, after + n)), after + n];
    }
    default:
      throw new Error(`unknown address tag ${tag} at byte ${offset}`);
  }
}

// ---- varints (LEB128 on non-negative integers up to 2^53) --------------------------------------

/** Bytes `writeVarint` writes for `n`. */
export function varintLength(n: number): number {
  let length = 1;
  for (let v = n; v >= 128; v = Math.floor(v / 128)) length++;
  return length;
}

/** Writes `n` as a varint into `out` at `at`; returns the offset after it. */
export function putVarint(n: number, out: Uint8Array, at: number): number {
  let v = n;
  let i = at;
  while (v >= 128) {
    out[i++] = (v % 128) + 128;
    v = Math.floor(v / 128);
  }
  out[i++] = v;
  return i;
}

export function writeVarint(n: number, out: number[]): void {
  let v = n;
  while (v >= 128) {
    out.push((v % 128) + 128);
    v = Math.floor(v / 128);
  }
  out.push(v);
}

export function readVarint(bytes: Uint8Array, offset: number): [number, number] {
  let value = 0;
  let scale = 1;
  let at = offset;
  for (;;) {
    const b = bytes[at++];
    if (b === undefined) throw new Error(`varint runs past the end at byte ${offset}`);
    value += (b & 127) * scale;
    if (b < 128) return [value, at];
    scale *= 128;
  }
}

const KIND_TAG = { p2pkh: TAG_P2PKH, p2sh: TAG_P2SH, p2wpkh: TAG_P2WPKH, p2wsh: TAG_P2WSH, p2tr: TAG_P2TR } as const;
export type AddressKind = keyof typeof KIND_TAG;

/** The address text of a payload (20 bytes for p2pkh, p2sh, p2wpkh; 32 for p2wsh, p2tr): for tests and synthetic data. */
export function addressOf(kind: AddressKind, payload: Uint8Array): string {
  if (kind === "p2pkh" || kind === "p2sh") {
    const body = new Uint8Array(21);
    body[0] = kind === "p2pkh" ? 0x00 : 0x05;
    body.set(payload.subarray(0, 20), 1);
    const full = new Uint8Array(25);
    full.set(body);
    full.set(sha256d(body).subarray(0, 4), 21);
    return base58Encode(full);
  }
  const packed = new Uint8Array(1 + payload.length);
  packed[0] = KIND_TAG[kind];
  packed.set(payload, 1);
  return unpackAddress(packed, 0)[0] as string;
}
