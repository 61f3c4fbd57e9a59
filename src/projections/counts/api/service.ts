/**
 * Transactions per minute and per hour (UTC, by event time).
 *
 * "The last hour" is the 60 complete minutes before the current one: at 13:45:20 they are
 * 12:45 ... 13:44; the current minute, still being counted, is left out. Minutes are fixed once
 * complete except for stragglers (a transaction arriving late with an older `time`), so the
 * 60 buckets are read once and shared for `cacheMs` by every request of the same minute window,
 * and each filtered answer (per `min_value`) is rendered once.
 *
 * Each minute and hour says whether it is complete (completeness.ts), and so does each answer as a
 * whole: `min_value` can filter an incomplete minute out, so the answer is complete only when all
 * 60 minutes are. The counts projection's coverage is read around the buckets, in the same render (completeness.ts `bracket`).
 */
import { Rendered, TtlCache } from "../../../api/cache.ts";
import { type Coverage, flagOf, worstOf } from "../../../api/completeness.ts";
import { hhmm } from "../../../domain/window.ts";
import type { Bucket } from "../read.ts";
import { spec } from "../spec.ts";
import type { HourCounts, MinuteCounts } from "./model.ts";

export const MINUTE_MS = 60_000;
export const HOUR_MS = 3_600_000;
export const MINUTES_SHOWN = 60;
export const HOURS_SHOWN = 24;

type Minute = MinuteCounts["minutes"][number];
/** The last hour's minutes, and whether all of them are complete. */
type LastHour = { flag: ReturnType<typeof flagOf>; minutes: Minute[] };

/** The reads the service makes (../read.ts, behind the API's Redis guard). */
export interface CountsReads {
  minuteBuckets(fromMs: number, n: number): Promise<Bucket[]>;
  hourBuckets(fromMs: number, n: number): Promise<Bucket[]>;
}

export class CountsService {
  private readonly minutes: TtlCache<LastHour>;
  private readonly filtered: TtlCache<Rendered<MinuteCounts>>;
  private readonly hours: TtlCache<Rendered<HourCounts>>;

  constructor(
    private readonly store: CountsReads,
    private readonly now: () => number,
    cacheMs: number,
    private readonly coverage: Coverage,
  ) {
    this.minutes = new TtlCache(cacheMs, now, 4);
    this.filtered = new TtlCache(cacheMs, now, 64);
    this.hours = new TtlCache(cacheMs, now, 4);
  }

  /** The 60 complete minutes before the current one, oldest first, with count ≥ `min`. */
  perMinute(min: number): Promise<Rendered<MinuteCounts>> {
    const from = Math.floor(this.now() / MINUTE_MS) * MINUTE_MS - MINUTES_SHOWN * MINUTE_MS;
    return this.filtered.get(`${from} ${min}`, async () => {
      const { flag, minutes } = await this.lastHour(from);
      return new Rendered({ ...flag, minutes: min === 0 ? minutes : minutes.filter((m) => m.count >= min) });
    });
  }

  private lastHour(from: number): Promise<LastHour> {
    return this.minutes.get(String(from), async () => {
      const { judge, value: buckets } = await this.coverage.bracket(spec, () => this.store.minuteBuckets(from, MINUTES_SHOWN));
      const judged = buckets.map((b: Bucket, i) => {
        const start = from + i * MINUTE_MS;
        return { bucket: b, start, completeness: judge(start, start + MINUTE_MS) };
      });
      return {
        flag: flagOf(worstOf(judged.map((m) => m.completeness))),
        minutes: judged.map(({ bucket, start, completeness }) => ({
          minute: hhmm(start),
          start: new Date(start).toISOString(),
          count: bucket.count,
          value: bucket.value,
          ...flagOf(completeness),
        })),
      };
    });
  }

  /** The 24 hours ending with the current one (still open), oldest first. */
  perHour(): Promise<Rendered<HourCounts>> {
    const current = Math.floor(this.now() / HOUR_MS) * HOUR_MS;
    const from = current - (HOURS_SHOWN - 1) * HOUR_MS;
    return this.hours.get(String(from), async () => {
      const { judge, value: buckets } = await this.coverage.bracket(spec, () => this.store.hourBuckets(from, HOURS_SHOWN));
      const hours = buckets.map((b, i) => {
        const start = from + i * HOUR_MS;
        const completeness = judge(start, start + HOUR_MS);
        return {
          completeness,
          hour: { hour: `${hhmm(start).slice(0, 2)}:00`, start: new Date(start).toISOString(), count: b.count, value: b.value, open: start === current, ...flagOf(completeness) },
        };
      });
      return new Rendered({ ...flagOf(worstOf(hours.map((h) => h.completeness))), hours: hours.map((h) => h.hour) });
    });
  }
}

/** The task's two-column table: `minute<TAB>count`, then `HH:MM<TAB>count` one line a minute. */
export function minuteTable(body: MinuteCounts): string {
  let text = "minute\tcount\n";
  for (const m of body.minutes) text += `${m.minute}\t${m.count}\n`;
  return text;
}
