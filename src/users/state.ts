/**
 * A player's state as the stream knows it, and the two values each event is stamped with: whether the player
 * had paid, and how many days since install, both as of the event (docs/SEMANTICS.md, "User state").
 *
 * The state only ever moves to earlier times (every field is a minimum), so merging two copies of it is the
 * same whatever the order or the repeats: that is what lets the warehouse's `users` table take a commit twice,
 * and lets BigQuery keep it as an append-only log.
 */

import { PURCHASE } from '../contract/event-types.ts';

const DAY_MS = 86_400_000;
/** Event names that mark an install: its time is the install time even when other events came earlier. */
export const INSTALL_NAMES: ReadonlySet<string> = new Set(['install', 'first_open']);

export interface UserState {
  /** The earliest install event, or null: none seen. */
  installMs: number | null;
  /** The earliest event of any kind. */
  firstSeenMs: number;
  /** The earliest purchase with a positive price, or null: none seen. */
  firstPaidMs: number | null;
}

/** A state as stored, with its user (the warehouses' contract). */
export type { StoredUserState } from '../contract/checkpoint.ts';

/**
 * A price as the ETL's revenue reads it (DuckDB's TRY_CAST to DECIMAL): a JSON number, or a decimal number in a
 * string, with an exponent or not (`"1e2"`), ASCII white space around it allowed (`" 4.99"`).
 */
const DECIMAL = /^[ \t\n\r\v\f]*[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?[ \t\n\r\v\f]*$/;

export function isPaidPurchase(type: number, parameters: Record<string, unknown>): boolean {
  if (type !== PURCHASE) return false;
  const p = parameters.price_usd;
  if (typeof p === 'number') return p > 0;
  return typeof p === 'string' && DECIMAL.test(p) && Number(p) > 0;
}

export function isInstall(name: string | null): boolean {
  return name !== null && INSTALL_NAMES.has(name);
}

/**
 * Folds one accepted event into `s` (null: the user's first), in place; returns the state and whether it
 * changed, so that only changed users are written.
 */
export function observe(s: UserState | null, tsMs: number, install: boolean, paid: boolean): { state: UserState; changed: boolean } {
  if (s === null) {
    return { state: { installMs: install ? tsMs : null, firstSeenMs: tsMs, firstPaidMs: paid ? tsMs : null }, changed: true };
  }
  let changed = false;
  if (tsMs < s.firstSeenMs) {
    s.firstSeenMs = tsMs;
    changed = true;
  }
  if (install && (s.installMs === null || tsMs < s.installMs)) {
    s.installMs = tsMs;
    changed = true;
  }
  if (paid && (s.firstPaidMs === null || tsMs < s.firstPaidMs)) {
    s.firstPaidMs = tsMs;
    changed = true;
  }
  return { state: s, changed };
}

/** Paid at or before `tsMs`, as far as the state knows. */
export function isPayingAt(s: UserState, tsMs: number): boolean {
  return s.firstPaidMs !== null && s.firstPaidMs <= tsMs;
}

/** UTC calendar days from the install (or first seen) day to the event's day. */
export function daysSinceInstall(s: UserState, tsMs: number): number {
  const from = s.installMs ?? s.firstSeenMs;
  return Math.floor(tsMs / DAY_MS) - Math.floor(from / DAY_MS);
}
