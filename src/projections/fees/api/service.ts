/**
 * Fee rates per minute (UTC, by event time): the 60 complete minutes before the current one, as
 * /transactions_count_per_minute lists them, read once per version of the projection
 * (src/api/fresh.ts) and shared by every request of the same minute. Each minute says whether it is complete, and so does the answer.
 */
import { Rendered, Renders } from "../../../api/cache.ts";
import { type Bracketed, type Completeness, type Coverage, flagOf, worstOf } from "../../../api/completeness.ts";
import type { AnswerCache, Freshness } from "../../../api/fresh.ts";
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

/** Fee minutes read with their coverage, and the answers rendered from them (by their flags). */
interface Reading {
  minutes: Bracketed<FeeMinute[]>;
  renders: Renders<Rendered<FeeMinutes>>;
}

export class FeesService {
  private readonly cache: AnswerCache<Reading>;

  constructor(
    private readonly read: (fromMs: number, n: number) => Promise<FeeMinute[]>,
    private readonly fresh: Freshness,
    private readonly coverage: Coverage,
  ) {
    this.cache = fresh.cache(spec.role, 4);
  }

  /** The 60 complete minutes before the current one, oldest first. */
  async perMinute(): Promise<Rendered<FeeMinutes>> {
    const from = Math.floor(this.fresh.now() / MINUTE_MS) * MINUTE_MS - MINUTES_SHOWN * MINUTE_MS;
    const { value, moment } = await this.cache.get(String(from), async () => ({
      minutes: await this.coverage.bracket(spec, () => this.read(from, MINUTES_SHOWN)),
      renders: new Renders(16),
    }));
    const judge = value.minutes.judgeAt(moment);
    const each = value.minutes.value.map((_, i) => judge(from + i * MINUTE_MS, from + (i + 1) * MINUTE_MS));
    return value.renders.of(each.map((c) => (c.complete ? "" : c.reason)).join(","), () => {
      return new Rendered({
        ...flagOf(worstOf(each)),
        minutes: value.minutes.value.map((m, i) => ({ ...feeMinuteView(m), ...flagOf(each[i] as Completeness) })),
      });
    });
  }
}
