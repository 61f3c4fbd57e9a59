/**
 * Transactions per minute and per hour (UTC, by event time).
 *
 * "The last hour" is the 60 complete minutes before the current one: at 13:45:20 they are
 * 12:45 ... 13:44; the current minute, still being counted, is left out. The 60 buckets are read
 * once per version of the projection (src/api/fresh.ts) and shared by every request of the same
 * minute window, and each answer (per `min_value` and per flags) is rendered once.
 *
 * Each minute and hour says whether it is complete (completeness.ts), and so does each answer as a
 * whole: `min_value` can filter an incomplete minute out, so the answer is complete only when all
 * 60 minutes are. The counts projection's coverage is read around the buckets (completeness.ts
 * `bracket`), and judged at each request's moment.
 */
import { Rendered, Renders } from "../../../api/cache.ts";
import { type Bracketed, type Completeness, type Coverage, flagOf, type Judge, worstOf } from "../../../api/completeness.ts";
import type { AnswerCache, Freshness } from "../../../api/fresh.ts";
import { hhmm } from "../../../domain/window.ts";
import type { Bucket } from "../read.ts";
import { spec } from "../spec.ts";
import type { HourCounts, MinuteCounts } from "./model.ts";

export const MINUTE_MS = 60_000;
export const HOUR_MS = 3_600_000;
export const MINUTES_SHOWN = 60;
export const HOURS_SHOWN = 24;

/** The reads the service makes (../read.ts, behind the API's Redis guard). */
export interface CountsReads {
  minuteBuckets(fromMs: number, n: number): Promise<Bucket[]>;
  hourBuckets(fromMs: number, n: number): Promise<Bucket[]>;
}

/** Buckets read with their coverage, and the answers rendered from them (by what else they depend on). */
interface Reading {
  buckets: Bracketed<Bucket[]>;
  renders: Renders<Rendered<MinuteCounts> | Rendered<HourCounts>>;
}

/** Each bucket's completeness at a request's moment, and those judgements as a key (the answers of one reading differ only by them and the filter). */
function judged(reading: Reading, judge: Judge, from: number, bucketMs: number) {
  const each = reading.buckets.value.map((_, i) => judge(from + i * bucketMs, from + (i + 1) * bucketMs));
  return { each, key: each.map((c) => (c.complete ? "" : c.reason)).join(",") };
}

export class CountsService {
  private readonly minutes: AnswerCache<Reading>;
  private readonly hours: AnswerCache<Reading>;

  constructor(
    private readonly store: CountsReads,
    private readonly fresh: Freshness,
    private readonly coverage: Coverage,
  ) {
    this.minutes = fresh.cache(spec.role, 4);
    this.hours = fresh.cache(spec.role, 4);
  }

  private reading(figures: () => Promise<Bucket[]>) {
    return async (): Promise<Reading> => ({ buckets: await this.coverage.bracket(spec, figures), renders: new Renders(64) });
  }

  /** The 60 complete minutes before the current one, oldest first, with count ≥ `min`. */
  async perMinute(min: number): Promise<Rendered<MinuteCounts>> {
    const from = Math.floor(this.fresh.now() / MINUTE_MS) * MINUTE_MS - MINUTES_SHOWN * MINUTE_MS;
    const { value, moment } = await this.minutes.get(
      String(from),
      this.reading(() => this.store.minuteBuckets(from, MINUTES_SHOWN)),
    );
    const { each, key } = judged(value, value.buckets.judgeAt(moment), from, MINUTE_MS);
    return value.renders.of(`${min} ${key}`, () => {
      const minutes = value.buckets.value.map((b, i) => {
        const start = from + i * MINUTE_MS;
        return { minute: hhmm(start), start: new Date(start).toISOString(), count: b.count, value: b.value, ...flagOf(each[i] as Completeness) };
      });
      return new Rendered({ ...flagOf(worstOf(each)), minutes: min === 0 ? minutes : minutes.filter((m) => m.count >= min) });
    }) as Rendered<MinuteCounts>;
  }

  /** The 24 hours ending with the current one (still open), oldest first. */
  async perHour(): Promise<Rendered<HourCounts>> {
    const current = Math.floor(this.fresh.now() / HOUR_MS) * HOUR_MS;
    const from = current - (HOURS_SHOWN - 1) * HOUR_MS;
    const { value, moment } = await this.hours.get(
      String(from),
      this.reading(() => this.store.hourBuckets(from, HOURS_SHOWN)),
    );
    const { each, key } = judged(value, value.buckets.judgeAt(moment), from, HOUR_MS);
    return value.renders.of(key, () => {
      const hours = value.buckets.value.map((b, i) => {
        const start = from + i * HOUR_MS;
        return {
          hour: `${hhmm(start).slice(0, 2)}:00`,
          start: new Date(start).toISOString(),
          count: b.count,
          value: b.value,
          open: start === current,
          ...flagOf(each[i] as Completeness),
        };
      });
      return new Rendered({ ...flagOf(worstOf(each)), hours });
    }) as Rendered<HourCounts>;
  }
}

/** The task's two-column table: `minute<TAB>count`, then `HH:MM<TAB>count` one line a minute. */
export function minuteTable(body: MinuteCounts): string {
  let text = "minute\tcount\n";
  for (const m of body.minutes) text += `${m.minute}\t${m.count}\n`;
  return text;
}
