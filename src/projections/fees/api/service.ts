/**
 * Fee rates per minute (UTC, by event time): the 60 complete minutes before the current one, as
 * /transactions_count_per_minute lists them, read once per cache period and shared by every
 * request of the same minute. Each minute says whether it is complete, and so does the answer.
 */
import { Rendered, TtlCache } from "../../../api/cache.ts";
import { type Coverage, flagOf, worstOf } from "../../../api/completeness.ts";
import { hhmm } from "../../../domain/window.ts";
import { PERCENTILES, percentile } from "../bands.ts";
import type { FeeMinute } from "../read.ts";
import { spec } from "../spec.ts";
import type { FeeMinutes } from "./model.ts";

const MINUTE_MS = 60_000;
export const MINUTES_SHOWN = 60;

/** sat/kvB as sat/vB. */
const perVbyte = (kvb: number | null) => (kvb === null ? null : kvb / 1000);

/** One minute as the API shows it (its flag added by the caller). */
export function feeMinuteView(m: FeeMinute) {
  const [p10, p50, p90] = PERCENTILES.map((p) => percentile(m.bands, p));
  return {
    minute: hhmm(m.start),
    start: new Date(m.start).toISOString(),
    count: m.count,
    unknown_fee: m.unknownFee,
    total_fee: m.fee,
    total_vsize: m.vsize,
    avg_rate: m.vsize > 0 && m.count > 0 ? Math.round((m.fee * 1000) / m.vsize) / 1000 : null,
    min_rate: perVbyte(m.minRate),
    max_rate: perVbyte(m.maxRate),
    p10: p10 ?? null,
    p50: p50 ?? null,
    p90: p90 ?? null,
    bands: [...m.bands.entries()].sort(([a], [b]) => a - b).map(([from, count]) => ({ from, count })),
  };
}

export class FeesService {
  private readonly cache: TtlCache<Rendered<FeeMinutes>>;

  constructor(
    private readonly read: (fromMs: number, n: number) => Promise<FeeMinute[]>,
    private readonly now: () => number,
    cacheMs: number,
    private readonly coverage: Coverage,
  ) {
    this.cache = new TtlCache(cacheMs, now, 4);
  }

  /** The 60 complete minutes before the current one, oldest first. */
  perMinute(): Promise<Rendered<FeeMinutes>> {
    const from = Math.floor(this.now() / MINUTE_MS) * MINUTE_MS - MINUTES_SHOWN * MINUTE_MS;
    return this.cache.get(String(from), async () => {
      const { judge, value } = await this.coverage.bracket(spec, () => this.read(from, MINUTES_SHOWN));
      const minutes = value.map((m, i) => {
        const start = from + i * MINUTE_MS;
        return { completeness: judge(start, start + MINUTE_MS), view: feeMinuteView(m) };
      });
      return new Rendered({
        ...flagOf(worstOf(minutes.map((m) => m.completeness))),
        minutes: minutes.map((m) => ({ ...m.view, ...flagOf(m.completeness) })),
      });
    });
  }
}
