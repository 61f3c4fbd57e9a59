/**
 * Transactions per minute and per hour (UTC, by event time).
 *
 * "The last hour" is the 60 complete minutes before the current one: at 13:45:20 they are
 * 12:45 ... 13:44; the current minute, still being counted, is left out. Minutes are fixed once
 * complete except for stragglers (a transaction arriving late with an older `time`), so the
 * 60 buckets are read once and shared for `cacheMs` by every request of the same minute window,
 * and each filtered answer (per `min_value`) is rendered once.
 */
import { Rendered, TtlCache } from "../cache.ts";
import type { ApiStore, Bucket } from "../store.ts";
import type { HourCounts, MinuteCounts } from "./model.ts";

export const MINUTE_MS = 60_000;
export const HOUR_MS = 3_600_000;
export const MINUTES_SHOWN = 60;
export const HOURS_SHOWN = 24;

const pad = (n: number) => (n < 10 ? `0${n}` : String(n));
/** "HH:MM" of a UTC time. */
export const hhmm = (ms: number) => {
  const d = new Date(ms);
  return `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}`;
};

type Minute = MinuteCounts["minutes"][number];

export class CountsService {
  private readonly minutes: TtlCache<Minute[]>;
  private readonly filtered: TtlCache<Rendered<MinuteCounts>>;
  private readonly hours: TtlCache<Rendered<HourCounts>>;

  constructor(
    private readonly store: ApiStore,
    private readonly now: () => number,
    cacheMs: number,
  ) {
    this.minutes = new TtlCache(cacheMs, now, 4);
    this.filtered = new TtlCache(cacheMs, now, 64);
    this.hours = new TtlCache(cacheMs, now, 4);
  }

  /** The 60 complete minutes before the current one, oldest first, with count ≥ `min`. */
  perMinute(min: number): Promise<Rendered<MinuteCounts>> {
    const from = Math.floor(this.now() / MINUTE_MS) * MINUTE_MS - MINUTES_SHOWN * MINUTE_MS;
    return this.filtered.get(`${from} ${min}`, async () => {
      const all = await this.lastHour(from);
      return new Rendered({ minutes: min === 0 ? all : all.filter((m) => m.count >= min) });
    });
  }

  private lastHour(from: number): Promise<Minute[]> {
    return this.minutes.get(String(from), async () => {
      const buckets = await this.store.minuteBuckets(from, MINUTES_SHOWN);
      return buckets.map((b: Bucket, i) => {
        const start = from + i * MINUTE_MS;
        return { minute: hhmm(start), start: new Date(start).toISOString(), count: b.count, value: b.value };
      });
    });
  }

  /** The 24 hours ending with the current one (not complete yet), oldest first. */
  perHour(): Promise<Rendered<HourCounts>> {
    const current = Math.floor(this.now() / HOUR_MS) * HOUR_MS;
    const from = current - (HOURS_SHOWN - 1) * HOUR_MS;
    return this.hours.get(String(from), async () => {
      const [buckets, coverFrom] = await Promise.all([this.store.hourBuckets(from, HOURS_SHOWN), this.store.countsCoverFromMs()]);
      return new Rendered({
        hours: buckets.map((b, i) => {
          const start = from + i * HOUR_MS;
          const covered = coverFrom !== null && start >= coverFrom;
          return { hour: `${hhmm(start).slice(0, 2)}:00`, start: new Date(start).toISOString(), count: b.count, value: b.value, complete: covered && start < current, covered };
        }),
      });
    });
  }
}

/** The task's two-column table: `minute<TAB>count`, then `HH:MM<TAB>count` one line a minute. */
export function minuteTable(body: MinuteCounts): string {
  let text = "minute\tcount\n";
  for (const m of body.minutes) text += `${m.minute}\t${m.count}\n`;
  return text;
}
