/**
 * The stored transactions (the last 3 hours of event time): the newest ones, one by hash.
 */
import { Rendered, TtlCache } from "../cache.ts";
import { NotFoundError } from "../errors.ts";
import type { ApiStore } from "../store.ts";
import { toView } from "../../transaction.ts";
import type { LatestTransactions, TransactionView } from "./model.ts";

/** The stored record without the pipeline's fields, properties in the contract's order. */
export const view = toView;

export class TransactionsService {
  private readonly latestCache: TtlCache<Rendered<LatestTransactions>>;

  constructor(
    private readonly store: ApiStore,
    private readonly now: () => number,
    cacheMs: number,
  ) {
    this.latestCache = new TtlCache(cacheMs, now, 16);
  }

  /** The newest `limit` transactions by event time, newest first. */
  latest(limit: number): Promise<Rendered<LatestTransactions>> {
    return this.latestCache.get(String(limit), async () => new Rendered({ transactions: (await this.store.latestTransactions(limit, this.now())).map(view) }));
  }

  /** Event time (unix seconds) of the newest stored transaction, or null when none is stored. */
  async newestTime(): Promise<number | null> {
    const [tx] = await this.store.latestTransactions(1, this.now());
    return tx?.time ?? null;
  }

  async byHash(hash: string): Promise<Rendered<TransactionView>> {
    const tx = await this.store.transaction(hash.toLowerCase());
    if (!tx) throw new NotFoundError(`no stored transaction ${hash.toLowerCase()}; transactions are kept for 3 hours of event time`);
    return new Rendered(view(tx));
  }
}
