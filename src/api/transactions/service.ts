/**
 * The stored transactions (the last 3 hours of event time): the newest ones, one by hash.
 *
 * The newest `MAX_LIMIT` are read once per cache period and every `?limit=` is a slice of that
 * read: a client cycling the limit costs no extra Redis read. One by hash is a single GET.
 */

import { toView } from "../../domain/transaction.ts";
import { Rendered, Sliced, TtlCache } from "../cache.ts";
import { NotFoundError } from "../errors.ts";
import type { ApiStore } from "../store.ts";
import type { LatestTransactions, TransactionView } from "./model.ts";

/** The stored record without the pipeline's fields, properties in the contract's order. */
export const view = toView;

/** The largest `limit` the route allows: what one cached read holds. */
export const MAX_LIMIT = 1000;

export class TransactionsService {
  private readonly latestCache: TtlCache<Sliced<TransactionView>>;

  constructor(
    private readonly store: ApiStore,
    private readonly now: () => number,
    private readonly cacheMs: number,
  ) {
    this.latestCache = new TtlCache(cacheMs, now, 1);
  }

  /** The newest `limit` transactions by event time, newest first. */
  async latest(limit: number): Promise<Rendered<LatestTransactions>> {
    // Without a cache (tests) there is nothing to share: read just what is asked.
    const size = this.cacheMs > 0 ? MAX_LIMIT : limit;
    const all = await this.latestCache.get(
      "latest",
      async () => new Sliced((await this.store.latestTransactions(size, this.now())).map(view), (transactions) => ({ transactions: [...transactions] }), '{"transactions":[', "]}"),
    );
    return all.take(limit) as Rendered<LatestTransactions>;
  }

  /** Event time (unix seconds) of the newest stored transaction, or null when none is stored. */
  async newestTime(): Promise<number | null> {
    const { value } = await this.latest(1);
    return value.transactions[0]?.time ?? null;
  }

  async byHash(hash: string): Promise<Rendered<TransactionView>> {
    const tx = await this.store.transaction(hash.toLowerCase());
    if (!tx) throw new NotFoundError(`no stored transaction ${hash.toLowerCase()}; transactions are kept for 3 hours of event time`);
    return new Rendered(view(tx));
  }
}
