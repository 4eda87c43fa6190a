// Realistic game traffic: users playing sessions of levels, with purchases. Produces well-formed events in
// event-time order per user; delivery disorder, retries and defects are layered on by the generator.
import type { Rng } from './prng.ts';
import { APP_VERSIONS, DEVICE_MODELS, KNOWN_IPV4, KNOWN_IPV6, UNLOCATED_IPS } from './catalog.ts';
import type { Platform } from './catalog.ts';
import { renderTimestamp } from './timestamps.ts';
import type { TsStyle } from './timestamps.ts';

export const EVENT_TYPES = {
  level_start: 1001,
  level_complete: 1002,
  level_fail: 1003,
  purchase: 2001,
  session_start: 3001,
  session_end: 3002,
} as const;

export type EventName = keyof typeof EVENT_TYPES;

export interface User {
  id: string;
  platform: Platform;
  deviceModel: string | null;
  appVersion: string;
  ip: string | null;
  level: number;
}

export interface GameEvent {
  /** Key order is the serialization order; ip_address comes last (truncation defects rely on it). */
  obj: Record<string, unknown>;
  /** The instant `obj.timestamp` denotes. */
  ts: number;
}

const BOOSTERS = ['hammer', 'shuffle', 'extra_moves', 'color_bomb'];
const PRODUCTS: readonly (readonly [string, number])[] = [
  ['gems_100', 0.99], ['gems_550', 4.99], ['starter_pack', 2.99], ['no_ads', 9.99], ['lives_5', 1.99],
];
const TS_STYLES: readonly (readonly [TsStyle, number])[] = [
  ['iso_ms_z', 78], ['epoch_ms', 6], ['iso_colon_offset', 4], ['iso_compact_offset', 3],
  ['iso_half_hour_offset', 2], ['iso_space', 2], ['iso_s_z', 2], ['iso_frac1', 1.5], ['iso_micro', 1.5],
];

export function makeUser(rng: Rng): User {
  const platform = rng.weighted<Platform>([['ios', 45], ['android', 45], ['web', 10]]);
  const models = DEVICE_MODELS[platform];
  const deviceModel = platform === 'web' && rng.chance(0.5) ? null : rng.pick(models);
  const ipRoll = rng.next();
  const ip = ipRoll < 0.77 ? rng.pick(KNOWN_IPV4)
    : ipRoll < 0.95 ? rng.pick(KNOWN_IPV6)
    : ipRoll < 0.98 ? rng.pick(UNLOCATED_IPS)
    : null;
  return { id: rng.uuid(), platform, deviceModel, appVersion: rng.pick(APP_VERSIONS), ip, level: rng.int(1, 80) };
}

/** A well-formed event object for a user; `style` picks how the timestamp is spelled. */
export function eventFor(
  rng: Rng,
  user: User,
  sessionId: string,
  name: EventName,
  parameters: unknown,
  ts: number,
  style: TsStyle = rng.weighted(TS_STYLES),
): GameEvent {
  const rendered = renderTimestamp(ts, style, rng.int(0, 999));
  const id = rng.chance(0.01) ? rng.uuid().toUpperCase() : rng.uuid();
  const obj: Record<string, unknown> = {
    id,
    user_id: user.id,
    session_id: sessionId,
    timestamp: rendered.value,
    type: EVENT_TYPES[name],
    name,
  };
  // session_start sends no parameters half of the time, and null sometimes: both store as {}.
  if (parameters !== undefined) obj.parameters = parameters;
  obj.app_version = user.appVersion;
  obj.platform = user.platform;
  if (user.deviceModel !== null) obj.device_model = user.deviceModel;
  if (user.ip !== null) obj.ip_address = user.ip;
  return { obj, ts: rendered.ms };
}

interface Skeleton {
  name: EventName;
  at: number; // relative time units, rescaled to the user's active span afterwards
  sessionId: string;
  params: (ts: number, sessionStartTs: number) => unknown;
}

function outcomeParams(rng: Rng, level: number): Record<string, unknown> {
  const boosters = rng.chance(0.6) ? [] : BOOSTERS.filter(() => rng.chance(0.35));
  return {
    level_id: level,
    moves_used: rng.int(3, 40),
    time_seconds: rng.chance(0.7) ? rng.int(15, 240) : Math.round(rng.float(15, 240) * 10) / 10,
    boosters_used: boosters,
  };
}

/**
 * About `count` events of one user, sessions back to back, spread over [startMs, startMs + spanMs].
 * Sessions always end with session_end, so the count may overshoot by a few events.
 */
export function userEvents(rng: Rng, user: User, count: number, startMs: number, spanMs: number): GameEvent[] {
  const skeleton: Skeleton[] = [];
  let t = 0;
  while (skeleton.length < count) {
    const sessionId = rng.uuid();
    const startParams = rng.weighted<'absent' | 'null' | 'empty' | 'source'>([
      ['absent', 45], ['null', 10], ['empty', 25], ['source', 20],
    ]);
    skeleton.push({
      name: 'session_start', at: t, sessionId,
      params: () => startParams === 'absent' ? undefined : startParams === 'null' ? null
        : startParams === 'empty' ? {} : { source: rng.pick(['organic', 'push', 'deeplink']) },
    });
    const levels = rng.int(1, 8);
    for (let i = 0; i < levels && skeleton.length < count - 1; i++) {
      t += rng.int(3, 15);
      const level = user.level;
      const attempt = rng.int(1, 5);
      skeleton.push({
        name: 'level_start', at: t, sessionId,
        params: () => rng.chance(0.7) ? { level_id: level, attempt } : { level_id: level },
      });
      t += rng.int(20, 150);
      const won = rng.chance(0.6);
      if (won) user.level++;
      skeleton.push({ name: won ? 'level_complete' : 'level_fail', at: t, sessionId, params: () => outcomeParams(rng, level) });
      if (rng.chance(0.04)) {
        t += rng.int(5, 30);
        const [product, price] = rng.pick(PRODUCTS);
        skeleton.push({ name: 'purchase', at: t, sessionId, params: () => ({ product_id: product, price_usd: price }) });
      }
    }
    t += rng.int(2, 10);
    skeleton.push({
      name: 'session_end', at: t, sessionId,
      params: (ts, startTs) => ({ duration_sec: Math.max(0, Math.round((ts - startTs) / 1000)) }),
    });
    t += rng.int(60, 400);
  }
  const last = skeleton[skeleton.length - 1].at || 1;
  const scale = spanMs / last;
  const out: GameEvent[] = [];
  let sessionStartTs = startMs;
  for (const s of skeleton) {
    const ts = startMs + Math.round(s.at * scale) + rng.int(0, 999);
    if (s.name === 'session_start') sessionStartTs = ts;
    out.push(eventFor(rng, user, s.sessionId, s.name, s.params(ts, sessionStartTs), ts));
  }
  return out;
}
