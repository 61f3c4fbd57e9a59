/**
 * Decoding of log records: one record value read as a Transaction, or the reason it is a poison
 * record (a dead letter).
 */
import { checkTransaction, READ_VERSIONS } from "../domain/transaction.ts";
import { MAX_AHEAD_SECONDS } from "../domain/window.ts";

export type Decoded = ReturnType<typeof checkTransaction>;

/**
 * Reads one record value: JSON, then the schema version (any of `READ_VERSIONS`: the current one
 * and the earlier ones a log may still hold), then that version's layout, then its time.
 */
export function decodeRecord(value: Buffer | null, nowSec: number): Decoded {
  if (value === null || value.length === 0) return { ok: false, reason: "empty record value" };
  let parsed: unknown;
  try {
    parsed = JSON.parse(value.toString("utf8"));
  } catch {
    return { ok: false, reason: "record value is not JSON" };
  }
  if (parsed !== null && typeof parsed === "object" && "v" in parsed && !READ_VERSIONS.includes(parsed.v as number)) {
    return { ok: false, reason: `unknown schema version ${JSON.stringify(parsed.v)}: this consumer reads versions ${READ_VERSIONS.join(", ")}` };
  }
  const checked = checkTransaction(parsed);
  if (!checked.ok) return { ok: false, reason: `not a valid transaction: ${checked.reason}` };
  if (checked.tx.time > nowSec + MAX_AHEAD_SECONDS) {
    return { ok: false, reason: `time ${checked.tx.time} is more than ${MAX_AHEAD_SECONDS} s ahead of Redis's clock (${Math.floor(nowSec)})` };
  }
  return checked;
}
