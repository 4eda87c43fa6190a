/** A command's standard output, as a shell pipeline uses it. */

/**
 * `gamestream env | head` (or `dlq export | head`, `sql … | head`) closes the pipe early: that is the reader being done, not an error,
 * so a command that only reads ends quietly with exit 0 instead of an EPIPE stack.
 */
export function endQuietlyWhenPipeCloses(): void {
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(0);
    throw err;
  });
}

/**
 * A command that writes (`dlq replay`, `etl run`, `etl backfill`) goes on to its end when the reader of its output
 * stops early, without printing: ended at its first EPIPE, it would leave a replay claimed and not finished, or a
 * day `running`, and exit 0 as if it had done its work.
 */
export function carryOnWhenPipeCloses(): void {
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE' || err.code === 'ERR_STREAM_DESTROYED') return;
    throw err;
  });
}
