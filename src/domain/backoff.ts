/**
 * Backoff between retries, one definition for every retry loop of the service: the wait doubles
 * from a minimum up to a maximum.
 */

/** The wait before retry `attempt` (0 first): `minMs` doubling each attempt, capped at `maxMs`. */
export const backoffStep = (attempt: number, minMs: number, maxMs: number) => Math.min(maxMs, minMs * 2 ** attempt);

/** The step with "equal jitter": half of it fixed, half random, so retries spread out but never collapse to 0. */
export const backoff = (attempt: number, minMs: number, maxMs: number) => {
  const step = backoffStep(attempt, minMs, maxMs);
  return Math.round(step / 2 + (Math.random() * step) / 2);
};
