/**
 * How the commands that stop cleanly on SIGINT/SIGTERM (`run`, `etl run`/`backfill`) tell a second Ctrl-C, which
 * exits at once with 130, from the first delivered twice: a terminal's Ctrl-C reaches the whole process group, and
 * `npm start` or `npx` forwards it to the child again.
 */

/** A second SIGINT/SIGTERM this soon after the first is the same interrupt delivered twice, not a second Ctrl-C. */
export const SAME_SIGNAL_MS = 300;

/** The exit code of a command stopped at once by a second signal (128 + SIGINT's number, as shells report it). */
export const SECOND_SIGNAL_EXIT = 130;

/**
 * A signal handler: `first` on the first signal, then `second` on one that comes SAME_SIGNAL_MS or more after it;
 * the repeats in between are ignored.
 */
export function onInterrupts(first: (sig: NodeJS.Signals) => void, second: (sig: NodeJS.Signals) => void): (sig: NodeJS.Signals) => void {
  let at = 0;
  return (sig) => {
    if (at === 0) {
      at = Date.now();
      first(sig);
    } else if (Date.now() - at >= SAME_SIGNAL_MS) {
      second(sig);
    }
  };
}
