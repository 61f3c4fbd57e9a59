import { Elysia } from "elysia";
import { responses } from "../openapi.ts";
import { Health } from "./model.ts";
import type { HealthService } from "./service.ts";

const RESPONSES = { 200: Health, 503: Health };

export const healthRoutes = (health: HealthService) =>
  new Elysia({ name: "api/health" }).get(
    "/health",
    async ({ set }) => {
      const body = await health.check();
      if (body.status !== "ok") set.status = 503;
      set.headers["cache-control"] = "no-store";
      return body;
    },
    {
      response: RESPONSES,
      detail: {
        operationId: "health",
        tags: ["operations"],
        summary: "Health of the API and what it depends on",
        description:
          "200 when Redis answers a PING, the Kafka brokers answer, and every consumer group has a member and moves; 503 otherwise, with the " +
          "reasons (a group with no member, or with lag whose position has not moved for `stalled_after_seconds`, is named). A group " +
          "replaying the log into its projection is `catching_up`, not failed, while it moves. Also: the age of the newest stored " +
          "transaction, seconds since the producer last heard from the feed, the lag of each consumer group, and the demo supervisor's " +
          "restarts. The answer is shared for up to a second; the Kafka part is cached for 2 seconds and uses one admin connection. " +
          "No reason carries a host, a port or a driver message (those are logged).",
        responses: responses({
          200: [{ schema: Health, description: "healthy" }],
          503: [{ schema: Health, description: "Redis or Kafka is unreachable, or a group has no member or has stalled; `reasons` says which" }],
        }),
      },
    },
  );
