/**
 * The addresses that moved the most value over the last 3 hours.
 *
 * Per side, the top `MAX_LIMIT` are read once per cache period and every `?limit=` is a slice
 * of that read: a client cycling the limit costs no extra Redis read. The answer is complete when
 * the window (its minutes up to now) is, on every shard of the projection; the coverage is read
 * before the totals.
 */

import { type Rendered, Sliced, TtlCache } from "../../../api/cache.ts";
import { type Coverage, flagOf } from "../../../api/completeness.ts";
import { toSec, WINDOW_SECONDS, windowStart } from "../../../domain/window.ts";
import type { AddressTotal } from "../read.ts";
import { spec } from "../spec.ts";
import type { HighValueAddresses, Side } from "./model.ts";

export const MAX_LIMIT = 1000;

export class AddressesService {
  private readonly cache: TtlCache<Sliced<AddressTotal>>;

  constructor(
    private readonly topAddresses: (side: Side, limit: number) => Promise<AddressTotal[]>,
    private readonly now: () => number,
    private readonly cacheMs: number,
    private readonly coverage: Coverage,
  ) {
    this.cache = new TtlCache(cacheMs, now, 2);
  }

  async top(side: Side, limit: number): Promise<Rendered<HighValueAddresses>> {
    const size = this.cacheMs > 0 ? MAX_LIMIT : limit;
    const all = await this.cache.get(side, async () => {
      const now = this.now();
      const { judge, value } = await this.coverage.bracket(spec, () => this.topAddresses(side, size));
      const flag = flagOf(judge(windowStart(toSec(now)) * 1000, now));
      return new Sliced(value, (addresses) => ({ window_seconds: WINDOW_SECONDS, side, ...flag, addresses: [...addresses] }), "addresses");
    });
    return all.take(limit) as Rendered<HighValueAddresses>;
  }
}
