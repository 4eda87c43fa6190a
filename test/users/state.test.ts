import { describe, expect, it } from 'vitest';
import { daysSinceInstall, isInstall, isPaidPurchase, isPayingAt, observe } from '../../src/users/state.ts';

const DAY = 86_400_000;
const T = Date.UTC(2026, 10, 20, 23, 0);

describe('user state', () => {
  it('counts a purchase as paid only with a positive price, as a number or a decimal string', () => {
    expect(isPaidPurchase(2001, { price_usd: 0.99 })).toBe(true);
    expect(isPaidPurchase(2001, { price_usd: '4.99' })).toBe(true);
    expect(isPaidPurchase(2001, { price_usd: 0 })).toBe(false);
    expect(isPaidPurchase(2001, { price_usd: '-1' })).toBe(false);
    expect(isPaidPurchase(2001, { price_usd: 'free' })).toBe(false);
    // As the ETL's revenue reads a string (DuckDB's TRY_CAST to DECIMAL): white space around it, an exponent.
    for (const paid of [' 4.99', '4.99\n', '\t1e2', '1.5E-1', '+4.']) expect(isPaidPurchase(2001, { price_usd: paid }), JSON.stringify(paid)).toBe(true);
    for (const not of ['\u00a04.99', '0x10', '4,99', 'e2', '1e', 'NaN', 'Infinity', ' ', '1e-9999']) expect(isPaidPurchase(2001, { price_usd: not }), JSON.stringify(not)).toBe(false);
    expect(isPaidPurchase(2001, {})).toBe(false);
    expect(isPaidPurchase(1001, { price_usd: 5 })).toBe(false);
  });

  it('knows install and first_open as install events', () => {
    expect(isInstall('install')).toBe(true);
    expect(isInstall('first_open')).toBe(true);
    expect(isInstall('session_start')).toBe(false);
    expect(isInstall(null)).toBe(false);
  });

  it('stamps as of the event: paid only from the first purchase on, in event time', () => {
    let { state } = observe(null, T, false, false);
    expect(isPayingAt(state, T)).toBe(false);
    ({ state } = observe(state, T + 60_000, false, true));
    expect(isPayingAt(state, T + 60_000)).toBe(true);
    // An event that arrives later but happened before the purchase is not a payer's.
    expect(isPayingAt(state, T + 30_000)).toBe(false);
  });

  it('counts UTC calendar days from the install event, or else the first event', () => {
    let { state } = observe(null, T, false, false);
    expect(daysSinceInstall(state, T + 2 * 3_600_000)).toBe(1); // 23:00 → 01:00 the next day
    ({ state } = observe(state, T - 3 * DAY, false, false));
    expect(daysSinceInstall(state, T)).toBe(3);
    ({ state } = observe(state, T - DAY, true, false));
    expect(daysSinceInstall(state, T)).toBe(1); // the install wins over an earlier first event
  });

  it('reports a change only when a time moves earlier', () => {
    const { state } = observe(null, T, false, false);
    expect(observe(state, T + 1, false, false).changed).toBe(false);
    expect(observe(state, T - 1, false, false).changed).toBe(true);
    expect(observe(state, T + 5, false, true).changed).toBe(true);
    expect(observe(state, T + 9, false, true).changed).toBe(false);
  });
});
