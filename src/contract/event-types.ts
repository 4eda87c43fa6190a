/**
 * The seed's event type codes that gamestream itself reads: the ETL's metrics and the user state stamped on
 * every event. One list, so the stream and the ETL cannot disagree on what a purchase is.
 */
export const LEVEL_START = 1001;
export const LEVEL_COMPLETE = 1002;
export const LEVEL_FAIL = 1003;
export const PURCHASE = 2001;
export const SESSION_END = 3002;
