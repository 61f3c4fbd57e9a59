/**
 * Logging: one line per event on stderr, `<time> <level> <role> <message> {fields}`.
 * `limited(key, ...)` logs at most once per interval per key and says how many it held back,
 * so a flood of bad input cannot flood the log.
 */
import type { Config } from "./config.ts";

const LEVELS = { debug: 10, info: 20, warn: 30, error: 40 } as const;
export type Level = keyof typeof LEVELS;

export interface Logger {
  debug(message: string, fields?: Record<string, unknown>): void;
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
  /** Like `level`, at most once per `everyMs` for the same `key`. */
  limited(key: string, level: Level, message: string, fields?: Record<string, unknown>, everyMs?: number): void;
}

export function createLogger(role: string, config: Pick<Config, "LOG_LEVEL">): Logger {
  const min = LEVELS[config.LOG_LEVEL];
  const write = (level: Level, message: string, fields?: Record<string, unknown>) => {
    if (LEVELS[level] < min) return;
    const extra = fields && Object.keys(fields).length ? ` ${JSON.stringify(fields)}` : "";
    process.stderr.write(`${new Date().toISOString()} ${level.toUpperCase().padEnd(5)} ${role} ${message}${extra}\n`);
  };
  const windows = new Map<string, { until: number; held: number }>();
  return {
    debug: (m, f) => write("debug", m, f),
    info: (m, f) => write("info", m, f),
    warn: (m, f) => write("warn", m, f),
    error: (m, f) => write("error", m, f),
    limited(key, level, message, fields, everyMs = 5_000) {
      const now = Date.now();
      const window = windows.get(key);
      if (window && now < window.until) {
        window.held++;
        return;
      }
      const held = window?.held ?? 0;
      windows.set(key, { until: now + everyMs, held: 0 });
      write(level, held ? `${message} (and ${held} more like it)` : message, fields);
    },
  };
}
