/**
 * wait_for_data: is UTC day D complete in the warehouse? The engine persists its event-time watermark per source
 * (gamestream_watermarks); D is complete when, for some source,
 *   (a) watermark ≥ end of D + allowed lateness, or
 *   (b) end_of_input is true and the source reached D (watermark ≥ start of D, or it wrote events dated D),
 * and `events` has at least one row dated D. The sensor pokes every interval until the timeout.
 */
import { GamestreamError } from '../errors.ts';
import type { Clock } from './clock.ts';
import { dayStartMs, sqlDate, sqlTimestamp, type EtlWarehouse } from './warehouse.ts';

const DAY_MS = 86_400_000;

export interface DayReadiness {
  complete: boolean;
  watermarkReady: boolean;
  eventRows: number;
}

export async function dayReadiness(wh: EtlWarehouse, day: string, allowedLatenessMs: number): Promise<DayReadiness> {
  const start = dayStartMs(day);
  const rows = await wh.query(`SELECT
      (SELECT count(*) FROM events WHERE event_date = ${sqlDate(day)}) AS event_rows,
      EXISTS (SELECT 1 FROM gamestream_watermarks w
        WHERE w.watermark >= ${sqlTimestamp(start + DAY_MS + allowedLatenessMs)}
           OR (w.end_of_input AND (w.watermark >= ${sqlTimestamp(start)}
               OR EXISTS (SELECT 1 FROM events e WHERE e.source = w.source AND e.event_date = ${sqlDate(day)})))
      ) AS watermark_ready`);
  const eventRows = Number(rows[0]?.event_rows ?? 0);
  const watermarkReady = rows[0]?.watermark_ready === true;
  return { complete: watermarkReady && eventRows > 0, watermarkReady, eventRows };
}

export interface SensorOptions {
  pokeIntervalMs: number;
  timeoutMs: number;
  allowedLatenessMs: number;
  clock: Clock;
  signal?: AbortSignal;
  onPoke?: (r: DayReadiness) => void;
}

/** Resolves once D is complete; rejects with `etl_sensor_timeout` (not retryable) when the timeout passes. */
export async function waitForData(wh: EtlWarehouse, day: string, o: SensorOptions): Promise<DayReadiness> {
  const deadline = o.clock.now() + o.timeoutMs;
  for (;;) {
    const r = await dayReadiness(wh, day, o.allowedLatenessMs);
    o.onPoke?.(r);
    if (r.complete) return r;
    const left = deadline - o.clock.now();
    if (left <= 0) {
      const why = !r.watermarkReady ? 'no source watermark has passed the end of the day' : 'events has no rows for the day';
      throw new GamestreamError('etl_sensor_timeout', `day ${day} not complete after ${o.timeoutMs} ms: ${why}`);
    }
    await o.clock.sleep(Math.min(o.pokeIntervalMs, left), o.signal);
  }
}
