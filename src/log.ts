/** Structured JSON logs on stderr; stdout is kept for the human progress line and summary. */
import { pino, type Logger } from 'pino';

export type { Logger };

export function createLogger(level: string): Logger {
  return pino({ level, base: { service: 'gamestream' }, timestamp: pino.stdTimeFunctions.isoTime }, pino.destination(2));
}
