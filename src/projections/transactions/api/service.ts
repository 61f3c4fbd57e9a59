/**
 * The stored transactions (the last 3 hours of event time): the newest ones, one by hash.
 *
 * The newest `MAX_LIMIT` are read once per cache period and every `?limit=` is a slice of that
 * read: a client cycling the limit costs no extra Redis read. One by hash is a single GET.
 *
 * Completeness (completeness.ts), with the transactions projection's coverage read around the
 * transactions: a list is complete when none is missing from the span it shows, from the oldest
 * listed transaction's time (the window's start when fewer than `limit` are listed) to now. A
 * transaction found is complete; a 404 is complete when the projection holds the whole window.
 */

import { Rendered, Sliced, TtlCache } from "../../../api/cache.ts";
import { type Coverage, flagOf } from "../../../api/completeness.ts";
import { NotFoundError } from "../../../api/errors.ts";
import { toView } from "../../../domain/transaction.ts";
import { toSec, windowStart } from "../../../domain/window.ts";
import { spec } from "../spec.ts";
import type { FoundTransaction, LatestTransactions, TransactionView } from "./model.ts";

/** The stored record without the pipeline's fields, properties in the contract's order. */
export const view = toView;

/** The largest `limit` the route allows: what one cached read holds. */
export const MAX_LIMIT = 1000;

/** The reads the service makes (../read.ts, behind the API's Redis guard). */
export interface TransactionsReads {
  latestTransactions(limit: number, nowMs: number): Promise<TransactionView[]>;
  transaction(hash: string): Promise<TransactionView | null>;
}

export class TransactionsService {
  private readonly latestCache: TtlCache<Sliced<TransactionView>>;

  constructor(
    private readonly store: TransactionsReads,
    private readonly now: () => number,
    private readonly cacheMs: number,
    private readonly coverage: Coverage,
  ) {
    this.latestCache = new TtlCache(cacheMs, now, 1);
  }

  /** The newest `limit` transactions by event time, newest first. */
  async latest(limit: number): Promise<Rendered<LatestTransactions>> {
    // Without a cache (tests) there is nothing to share: read just what is asked.
    const size = this.cacheMs > 0 ? MAX_LIMIT : limit;
    const all = await this.latestCache.get("latest", async () => {
      const now = this.now();
      const from = windowStart(toSec(now)) * 1000;
      const { judge, value } = await this.coverage.bracket(spec, () => this.store.latestTransactions(size, now));
      const listed = value.map(view);
      // The first n listed are all `limit` asked for when more were read (or the read was full): a
      // transaction missing from them would be newer than the last. Fewer than asked: the whole window.
      const spanFrom = (n: number) => (n > 0 && (n < listed.length || listed.length === size) ? (listed[n - 1] as TransactionView).time * 1000 : from);
      return new Sliced(listed, (transactions) => ({ ...flagOf(judge(spanFrom(transactions.length), now)), transactions: [...transactions] }), "transactions");
    });
    return all.take(limit) as Rendered<LatestTransactions>;
  }

  async byHash(hash: string): Promise<Rendered<FoundTransaction>> {
    const { judge, value: tx } = await this.coverage.bracket(spec, () => this.store.transaction(hash.toLowerCase()));
    if (!tx) {
      const now = this.now();
      throw new NotFoundError(`no stored transaction ${hash.toLowerCase()}; transactions are kept for 3 hours of event time`, flagOf(judge(windowStart(toSec(now)) * 1000, now)));
    }
    return new Rendered({ ...view(tx), complete: true });
  }
}
