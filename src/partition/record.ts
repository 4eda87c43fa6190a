/** The shapes that flow through a partition actor. */

/** A record as it arrives: raw bytes with its position in the source. */
export interface RawRecord {
  partition: number;
  offset: number;
  bytes: Uint8Array;
}

/** A decoded, validated event, before enrichment. */
export interface ValidEvent {
  id: string;
  userId: string;
  sessionId: string | null;
  type: number;
  name: string | null;
  tsMs: number;
  parameters: Record<string, unknown>;
  levelId: number | null;
  platform: string | null;
  appVersion: string | null;
  ipAddress: string | null;
  deviceModel: string | null;
  /** What the client sent as `is_paying_user` and `days_since_install`, when of the right type. */
  clientPaying: boolean | null;
  clientDaysSinceInstall: number | null;
  /** Top-level fields the schema does not know, as sent (null: none). */
  properties: Record<string, unknown> | null;
}

/** Why a record was rejected; becomes an events_dlq row. */
export interface Rejection {
  code: 'parse_error' | 'too_large' | 'missing_fields' | 'invalid_field' | 'invalid_timestamp' | 'future_timestamp' | 'unknown_schema';
  stage: 'decode' | 'validate' | 'enrich' | 'sink';
  message: string;
}
