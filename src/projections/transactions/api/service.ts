/**
 * The stored transactions (the last 3 hours of event time): the newest ones, one by hash.
 *
 * The newest `MAX_LIMIT` are read once per version of the projection (src/api/fresh.ts) and every
 * `?limit=` is a slice of that read: a client cycling the limit costs no extra Redis read. One by
 * hash is a single GET (and a check of the version when it is not found).
 *
 * Completeness (completeness.ts), with the transactions projection's coverage read around the
 * transactions: a list is complete when none is missing from the span it shows, from the oldest
 * listed transaction's time (the window's start when fewer than `limit` are listed) to now. A
 * transaction found is complete; a 404 is complete when the projection holds the whole window.
 */

import { Rendered, Sliced } from "../../../api/cache.ts";
import { type Bracketed, type Coverage, flagOf } from "../../../api/completeness.ts";
import { NotFoundError } from "../../../api/errors.ts";
import type { AnswerCache, Freshness } from "../../../api/fresh.ts";
import { toView } from "../../../domain/transaction.ts";
import { toSec, windowStart } from "../../../domain/window.ts";
import { spec } from "../spec.ts";
import type { FoundTransaction, LatestTransactions, TransactionView } from "./model.ts";

/** The stored record without the pipeline's fields, properties in the contract's order. */
export const view = toView;

/** The largest `limit` the route allows: what one shared reading holds. */
export const MAX_LIMIT = 1000;

/** The reads the service makes (../read.ts, behind the API's Redis guard). */
export interface TransactionsReads {
  /** The hashes of the newest `limit` by time within the window at `nowMs`, newest first. */
  latestHashes(limit: number, nowMs: number): Promise<string[]>;
  /** The stored transactions of `hashes`, in order; null for one gone. */
  bodies(hashes: readonly string[]): Promise<(TransactionView | null)[]>;
  transaction(hash: string): Promise<TransactionView | null>;
  /** The projection's version (src/redis/read.ts projectionVersion). */
  version(): Promise<string>;
}

/** The newest transactions read (newest first), and how many the reading asked for. */
interface Latest {
  list: Sliced<TransactionView>;
  asked: number;
}

/** A listed transaction as the API shows it, and its JSON text. */
interface Shown {
  view: TransactionView;
  text: string;
}

export class TransactionsService {
  private readonly latestCache: AnswerCache<Bracketed<Latest>>;
  /** The projection's coverage alone, for the answer of a hash not found. */
  private readonly coverageCache: AnswerCache<Bracketed<null>>;

  /**
   * The transactions the last reading listed, by hash: a reading fetches and serializes only the
   * ones new since (a stored transaction never changes: its hash is its content's).
   */
  private shown = new Map<string, Shown>();

  constructor(
    private readonly store: TransactionsReads,
    private readonly fresh: Freshness,
    private readonly coverage: Coverage,
  ) {
    this.latestCache = fresh.cache(spec.role, 1);
    this.coverageCache = fresh.cache(spec.role, 1);
  }

  /** The newest `limit` transactions by event time, newest first. */
  async latest(limit: number): Promise<Rendered<LatestTransactions>> {
    // Shared readings hold the largest answer, sliced per request; a reading per request (tests) reads just what is asked.
    const asked = this.fresh.shared ? MAX_LIMIT : limit;
    const { value, moment } = await this.latestCache.get("latest", () => this.coverage.bracket(spec, async () => ({ list: await this.readLatest(asked), asked })));
    const { list } = value.value;
    // The window moves on between readings: the transactions it has left are dropped here (the list is newest first).
    const from = windowStart(toSec(moment.nowMs)) * 1000;
    let held = list.items.length;
    while (held > 0 && (list.items[held - 1] as TransactionView).time * 1000 < from) held--;
    const n = Math.min(limit, held);
    // The n listed are all `limit` asked for when more are held, or when the reading was full: a
    // transaction missing from them would be newer than the last. Fewer: the whole window.
    const spanFrom = n > 0 && (n < held || list.items.length === value.value.asked) ? (list.items[n - 1] as TransactionView).time * 1000 : from;
    return list.take(n, flagOf(value.judgeAt(moment)(spanFrom, moment.nowMs))) as Rendered<LatestTransactions>;
  }

  /** The newest `asked` transactions, newest first: the index, then the bodies of those the last reading did not list. */
  private async readLatest(asked: number): Promise<Sliced<TransactionView>> {
    const known = this.shown;
    const hashes = await this.store.latestHashes(asked, this.fresh.now());
    const missing = hashes.filter((h) => !known.has(h));
    const bodies = await this.store.bodies(missing);
    const fetched = new Map<string, Shown>();
    missing.forEach((h, i) => {
      const tx = bodies[i];
      if (!tx) return;
      const v = view(tx);
      fetched.set(h, { view: v, text: JSON.stringify(v) });
    });
    const listed = hashes.map((h) => known.get(h) ?? fetched.get(h)).filter((x): x is Shown => x !== undefined);
    this.shown = new Map(listed.map((x) => [x.view.hash, x]));
    return new Sliced(
      listed.map((x) => x.view),
      "transactions",
      listed.map((x) => x.text),
    );
  }

  /**
   * One transaction: a GET. A hash not found is judged on the projection's coverage, read before
   * the GET (shared while the projection's version holds) and confirmed after it: a write between
   * the two (a FLUSHALL, a rebuild) reads the coverage again around the GET.
   */
  async byHash(hash: string): Promise<Rendered<FoundTransaction>> {
    const id = hash.toLowerCase();
    const { value: covered, moment, version } = await this.coverageCache.get("window", () => this.coverage.bracket(spec, async () => null));
    const tx = await this.store.transaction(id);
    if (tx) return new Rendered({ ...view(tx), complete: true });
    let judge = covered.judgeAt(moment);
    if ((await this.store.version()) !== version) {
      const again = await this.coverage.bracket(spec, () => this.store.transaction(id));
      if (again.value) return new Rendered({ ...view(again.value), complete: true });
      judge = again.judgeAt(moment);
    }
    throw new NotFoundError(`no stored transaction ${id}; transactions are kept for 3 hours of event time`, flagOf(judge(windowStart(toSec(moment.nowMs)) * 1000, moment.nowMs)));
  }
}
