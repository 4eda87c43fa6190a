// The record model shared by the generator, the truth computation and the writers.
import type { ErrorCode } from './validate.ts';

/** How a normal event was delivered relative to its own time (the generator's intent, not the verdict). */
export type DeliveryIntent = 'ontime' | 'jitter' | 'delayed' | 'late';

/** What the generator meant a record to be. computeExpected re-derives the verdict and checks it against this. */
export interface RecordLabel {
  /** 'event' for normal traffic, 'retry' for a client resend, else the defect or special kind. */
  readonly kind: string;
  /** Sub-kind within a defect kind, e.g. 'missing_id' within 'missing_fields'. */
  readonly variant?: string;
  /** 'valid' or the dead-letter code the record must get. */
  readonly expect: 'valid' | ErrorCode;
  readonly delivery?: DeliveryIntent;
  /** For retries: whether the resend was meant to land inside or beyond the dedupe horizon. */
  readonly retry?: 'within' | 'beyond';
}

export interface TruthRecord {
  /** The exact bytes of the record, without the newline that ends it in an NDJSON file. */
  readonly line: Buffer;
  readonly label: RecordLabel;
}

/** Tuning shared by the generator and the truth: the contract's defaults unless a test overrides them. */
export interface TruthOptions {
  partitions: number;
  horizonMs: number;
  outOfOrdernessMs: number;
  latenessMs: number;
  windowMs: number;
  maxEventBytes: number;
  futureToleranceMs: number;
}

export const DEFAULT_TRUTH_OPTIONS: Readonly<TruthOptions> = {
  partitions: 64,
  horizonMs: 5 * 60_000,
  outOfOrdernessMs: 10_000,
  latenessMs: 60_000,
  windowMs: 60_000,
  maxEventBytes: 1024 * 1024,
  futureToleranceMs: 3600_000,
};

const labelCache = new Map<string, RecordLabel>();

/** Labels are shared between records (a 1M-record dataset would otherwise carry 1M small objects). */
export function label(l: RecordLabel): RecordLabel {
  const key = `${l.kind}|${l.variant ?? ''}|${l.expect}|${l.delivery ?? ''}|${l.retry ?? ''}`;
  let cached = labelCache.get(key);
  if (!cached) {
    cached = Object.freeze({ ...l });
    labelCache.set(key, cached);
  }
  return cached;
}

/** A JSON object serialized as one NDJSON record. JSON.stringify never emits a raw newline. */
export function jsonLine(value: unknown): Buffer {
  return Buffer.from(JSON.stringify(value), 'utf8');
}
