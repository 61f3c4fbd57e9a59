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
          "200 when Redis answers a PING and the Kafka brokers answer; 503 otherwise, with the reasons. Also: the age of the newest " +
          "stored transaction, seconds since the producer last heard from the feed, and the lag of each consumer group (records on the " +
          "topic not yet committed). The Kafka part is cached for 2 seconds and uses one admin connection.",
        responses: responses({
          200: [{ schema: Health, description: "healthy" }],
          503: [{ schema: Health, description: "Redis or Kafka is unreachable; `reasons` says which" }],
        }),
      },
    },
  );
