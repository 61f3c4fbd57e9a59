/** The transactions projection's part of the API: /latest_transactions and /transactions/{hash}, and the feeds of /stream and /health: the newest transactions, and the stream of every stored one. */
import type { ApiPart } from "../../../api/projection.ts";
import { fromRedis } from "../../../api/redis.ts";
import { projectionVersion } from "../../../redis/read.ts";
import { lastTransactionSeq, latestHashes, latestTransactions, transactionBodies, transactionByHash, transactionsAfter } from "../read.ts";
import { spec } from "../spec.ts";
import { transactionsRoutes } from "./routes.ts";
import { TransactionsService } from "./service.ts";

export const transactionsApi: ApiPart = {
  tag: { name: "transactions", description: "the transactions of the last 3 hours" },
  routes: ({ redis, config, fresh, coverage }) =>
    transactionsRoutes(
      new TransactionsService(
        {
          latestHashes: (limit, nowMs) => fromRedis(latestHashes(redis, config, limit, nowMs), "latest transactions"),
          bodies: (hashes) => fromRedis(transactionBodies(redis, config, hashes), "latest transactions"),
          transaction: (hash) => fromRedis(transactionByHash(redis, config, hash), "transaction by hash"),
          version: () => fromRedis(projectionVersion(redis, config, spec), "transactions version"),
        },
        fresh,
        coverage,
      ),
    ),
  feeds: (redis, config) => ({
    latestTransactions: (limit, nowMs) => latestTransactions(redis, config, limit, nowMs),
    transactionsAfter: (n, limit) => transactionsAfter(redis, config, n, limit),
    lastTransactionSeq: () => lastTransactionSeq(redis, config),
  }),
};
