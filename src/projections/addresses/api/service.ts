/**
 * The addresses that moved the most value over the last 3 hours.
 *
 * Per side, the top `MAX_LIMIT` are read once per version of the projection (src/api/fresh.ts)
 * and every `?limit=` is a slice of that read: a client cycling the limit costs no extra Redis
 * read. The answer is complete when the window (its minutes up to now) is, on every shard of the
 * projection; the coverage is read around the totals and judged at each request's moment.
 */

import { type Rendered, Sliced } from "../../../api/cache.ts";
import { type Bracketed, type Coverage, flagOf } from "../../../api/completeness.ts";
import type { AnswerCache, Freshness } from "../../../api/fresh.ts";
import { toSec, WINDOW_SECONDS, windowStart } from "../../../domain/window.ts";
import type { AddressTotal } from "../read.ts";
import { spec } from "../spec.ts";
import type { HighValueAddresses, Side } from "./model.ts";

export const MAX_LIMIT = 1000;

export class AddressesService {
  private readonly cache: AnswerCache<Bracketed<Sliced<AddressTotal>>>;

  constructor(
    private readonly topAddresses: (side: Side, limit: number) => Promise<AddressTotal[]>,
    private readonly fresh: Freshness,
    private readonly coverage: Coverage,
  ) {
    this.cache = fresh.cache(spec.role, 2);
  }

  async top(side: Side, limit: number): Promise<Rendered<HighValueAddresses>> {
    // Shared readings hold the largest answer, sliced per request; a reading per request (tests) reads just what is asked.
    const size = this.fresh.shared ? MAX_LIMIT : limit;
    const { value, moment } = await this.cache.get(side, () => this.coverage.bracket(spec, async () => new Sliced(await this.topAddresses(side, size), "addresses")));
    const flag = flagOf(value.judgeAt(moment)(windowStart(toSec(moment.nowMs)) * 1000, moment.nowMs));
    return value.value.take(limit, { window_seconds: WINDOW_SECONDS, side, ...flag }) as Rendered<HighValueAddresses>;
  }
}
