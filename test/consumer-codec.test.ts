/**
 * The stored transaction body and its address packing: exact round trips for every string,
 * compact for the standard mainnet kinds.
 */
import { describe, expect, test } from "bun:test";
import { addressOf, packAddress, unpackAddress } from "../src/consumers/address-codec.ts";
import { decodeBody, encodeBody } from "../src/consumers/body.ts";
import { prng, syntheticTransactions } from "../src/consumers/population.ts";

const roundTrip = (address: string | null) => {
  const out: number[] = [];
  packAddress(address, out);
  const [back, end] = unpackAddress(Uint8Array.from(out), 0);
  return { back, size: out.length, end };
};

describe("address packing", () => {
  test("known mainnet addresses pack to their payload and come back exactly", () => {
    const cases: [string, number][] = [
      ["1BoatSLRHtKNngkdXEeobR76b53LETtpyT", 25], // P2PKH: tag + hash + checksum
      ["1111111111111111111114oLvT2", 25], // P2PKH of the zero hash: many leading '1's
      ["3J98t1WpEZ73CNmQviecrnyiWrnqRhWNLy", 25], // P2SH
      ["bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq", 21], // P2WPKH
      ["bc1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3qccfmv3", 33], // P2WSH
      ["bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqzk5jj0", 33], // P2TR (bech32m)
    ];
    for (const [address, size] of cases) expect(roundTrip(address)).toEqual({ back: address, size, end: size });
  });

  test("anything else is kept as text: testnet, upper case, bad checksums, extra leading ones, junk", () => {
    for (const address of [
      "tb1qw508d6qejxtdg4y5r3zarvary0c5xw7kxpjzsx",
      "BC1QAR0SRRR7XFKVY5L643LYDNW9RE59GTZZWF5MDQ",
      "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdx", // bech32 checksum broken
      "bc1par0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq", // v1 with a bech32 (not bech32m) checksum
      "11BoatSLRHtKNngkdXEeobR76b53LETtpyT",
      "1BoatSLRHtKNngkdXEeobR76b53LETtpy0", // '0' is not base58
      "mipcBbFg9gMiCh81Kj8tqqdgoZub1ZJRfn",
      "d-2c3f1e0a",
      "x",
      "ünïcödé",
    ]) {
      const { back, size } = roundTrip(address);
      expect(back).toBe(address);
      expect(size).toBeGreaterThan(new TextEncoder().encode(address).length);
    }
    expect(roundTrip(null)).toEqual({ back: null, size: 1, end: 1 });
  });

  test("every address of each kind, from random payloads, comes back exactly", () => {
    const random = prng(7);
    for (const kind of ["p2pkh", "p2sh", "p2wpkh", "p2wsh", "p2tr"] as const) {
      for (let i = 0; i < 300; i++) {
        const payload = Uint8Array.from({ length: kind === "p2wsh" || kind === "p2tr" ? 32 : 20 }, () => Math.floor(random() * 256));
        if (i % 50 === 0) payload.fill(0, 0, 3); // leading zero bytes
        const address = addressOf(kind, payload);
        const { back, size } = roundTrip(address);
        expect(back).toBe(address);
        expect(size).toBeLessThanOrEqual(33);
      }
    }
  });
});

describe("stored body", () => {
  test("keeps exactly what the API serves, in about a third of the record", () => {
    const txs = syntheticTransactions(500, { fromSec: 1_700_000_000, toSec: 1_700_003_600 });
    let bytes = 0;
    let json = 0;
    for (const tx of txs) {
      const body = encodeBody(tx);
      bytes += body.length;
      json += JSON.stringify(tx).length;
      const { v, received_at, ...served } = tx;
      expect(decodeBody(body)).toEqual(served);
    }
    expect(bytes / txs.length).toBeLessThan(260);
    expect(bytes / json).toBeLessThan(0.4);
  });

  test("negative and unknown fees, unknown input values and big values survive", () => {
    const tx = {
      hash: "ff".repeat(32),
      time: 4_000_000_000,
      size: 4_000_000,
      inputs: [{ address: null, value: null }, { address: "1BoatSLRHtKNngkdXEeobR76b53LETtpyT", value: 0 }],
      outputs: [{ address: "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq", value: 2_100_000_000_000_000 }],
      value: 2_100_000_000_000_000,
      fee: -2_100_000_000_000_000,
    };
    expect(decodeBody(encodeBody(tx))).toEqual(tx);
    expect(decodeBody(encodeBody({ ...tx, fee: null })).fee).toBeNull();
    expect(decodeBody(encodeBody({ ...tx, fee: 0 })).fee).toBe(0);
  });
});
