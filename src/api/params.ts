/**
 * Query and path parameters shared by the features.
 *
 * Integers are checked as text, digits only: Elysia's numeric coercion would accept `1e3`,
 * `0x10`, ` 5` or `1.0`, and the contract allows none of them. The `description` of each schema
 * is the "what is allowed" of the 422 message (see errors.ts) and of the OpenAPI document.
 */
import { t } from "elysia";

/** `limit`: an integer from 1 to `max` in decimal digits (no sign, no leading zero), default `def`. */
export const Limit = (def: number, max: 1000) =>
  t.Optional(
    t.String({
      // 1..999 or exactly 1000
      pattern: `^(?:[1-9][0-9]{0,2}|${max})$`,
      default: String(def),
      example: String(def),
      description: `an integer from 1 to ${max} (default ${def})`,
    }),
  );

/** Parses a value that passed `Limit` (or was left out). */
export const limitOf = (text: string | undefined, def: number): number => (text === undefined || text === "" ? def : Number(text));

/** The largest whole number a query may carry: below 2^53, so it parses exactly. */
export const MAX_DIGITS = 15;

/** An integer ≥ 0 in decimal digits. */
export const NonNegativeInteger = (what: string, example: string) =>
  t.String({
    pattern: `^[0-9]{1,${MAX_DIGITS}}$`,
    example,
    description: `${what}: an integer ≥ 0 written in decimal digits (at most ${MAX_DIGITS}), e.g. ${example}`,
  });

/** `?format=`: `json` (default) or `text`. */
export const Format = t.Optional(
  t.UnionEnum(["json", "text"], {
    default: undefined, // no default: a missing format lets the Accept header decide
    description: "json (default) or text; `Accept: text/plain` also selects text",
  }),
);

/** True when the client asked for the text table: `?format=text`, or text/plain preferred over JSON. */
export function wantsText(format: string | undefined, accept: string | null | undefined): boolean {
  if (format) return format === "text";
  if (!accept) return false;
  const text = accept.indexOf("text/plain");
  if (text === -1) return false;
  const json = accept.indexOf("application/json");
  return json === -1 || text < json;
}
