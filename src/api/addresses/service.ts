/**
 * The addresses that moved the most value over the last 3 hours.
 *
 * Per side, the top `MAX_LIMIT` are read once per cache period and every `?limit=` is a slice
 * of that read: a client cycling the limit costs no extra Redis read.
 */
import { WINDOW_SECONDS } from "../../domain/window.ts";
import { type Rendered, Sliced, TtlCache } from "../cache.ts";
import type { AddressTotal, ApiStore } from "../store.ts";
import type { HighValueAddresses, Side } from "./model.ts";

export const MAX_LIMIT = 1000;

export class AddressesService {
  private readonly cache: TtlCache<Sliced<AddressTotal>>;

  constructor(
    private readonly store: ApiStore,
    now: () => number,
    private readonly cacheMs: number,
  ) {
    this.cache = new TtlCache(cacheMs, now, 2);
  }

  async top(side: Side, limit: number): Promise<Rendered<HighValueAddresses>> {
    const size = this.cacheMs > 0 ? MAX_LIMIT : limit;
    const all = await this.cache.get(
      side,
      async () =>
        new Sliced(
          await this.store.topAddresses(side, size),
          (addresses) => ({ window_seconds: WINDOW_SECONDS, side, addresses: [...addresses] }),
          `{"window_seconds":${WINDOW_SECONDS},"side":${JSON.stringify(side)},"addresses":[`,
          "]}",
        ),
    );
    return all.take(limit) as Rendered<HighValueAddresses>;
  }
}
