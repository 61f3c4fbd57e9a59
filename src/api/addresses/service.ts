/**
 * The addresses that moved the most value over the last 3 hours.
 */
import { Rendered, TtlCache } from "../cache.ts";
import type { ApiStore, Side } from "../store.ts";
import { type HighValueAddresses, WINDOW_SECONDS } from "./model.ts";

export class AddressesService {
  private readonly cache: TtlCache<Rendered<HighValueAddresses>>;

  constructor(
    private readonly store: ApiStore,
    private readonly now: () => number,
    cacheMs: number,
  ) {
    this.cache = new TtlCache(cacheMs, now, 32);
  }

  top(side: Side, limit: number): Promise<Rendered<HighValueAddresses>> {
    return this.cache.get(
      `${side} ${limit}`,
      async () => new Rendered({ window_seconds: WINDOW_SECONDS, side, addresses: await this.store.topAddresses(side, limit) }),
    );
  }
}
