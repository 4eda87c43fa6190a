/**
 * Logs on stderr; stdout is kept for the human progress line and summary. JSON lines (pino) when stderr is not a
 * terminal, for log collectors; on a terminal one readable line per entry instead of JSON mixed with the progress
 * lines (GAMESTREAM_LOG_FORMAT chooses either way).
 */
import { pino, type DestinationStream, type Logger } from 'pino';

export type { Logger };
export type LogFormat = 'auto' | 'json' | 'text';
export const LOG_FORMATS: readonly LogFormat[] = ['auto', 'json', 'text'];

const LEVELS: Record<number, string> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' };
const SKIP = new Set(['level', 'time', 'msg', 'service', 'pid', 'hostname']);

/** One pino entry as `12:03:04.567 WARN message  key=value …`; an error by its message, its stack left out. */
export function textLine(entry: Record<string, unknown>): string {
  const time = typeof entry.time === 'string' ? entry.time.slice(11, 23) : new Date().toISOString().slice(11, 23);
  const level = LEVELS[Number(entry.level)] ?? String(entry.level);
  const fields: string[] = [];
  for (const [k, v] of Object.entries(entry)) {
    if (SKIP.has(k) || v === undefined) continue;
    const value = v !== null && typeof v === 'object' && typeof (v as { message?: unknown }).message === 'string'
      ? (v as { message: string }).message
      : typeof v === 'string' ? v : JSON.stringify(v);
    fields.push(`${k}=${/\s/.test(value) ? JSON.stringify(value) : value}`);
  }
  return `${time} ${level.padEnd(5)} ${String(entry.msg ?? '')}${fields.length > 0 ? `  ${fields.join(' ')}` : ''}\n`;
}

function textDestination(): DestinationStream {
  return {
    write(line: string): void {
      let entry: Record<string, unknown>;
      try {
        entry = JSON.parse(line) as Record<string, unknown>;
      } catch {
        process.stderr.write(line);
        return;
      }
      process.stderr.write(textLine(entry));
    },
  };
}

export function createLogger(level: string, format: LogFormat = 'auto'): Logger {
  const text = format === 'text' || (format === 'auto' && process.stderr.isTTY === true);
  return pino({ level, base: { service: 'gamestream' }, timestamp: pino.stdTimeFunctions.isoTime }, text ? textDestination() : pino.destination(2));
}
