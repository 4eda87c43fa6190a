/** A command's standard output, as a shell pipeline uses it. */

/**
 * `gamestream env | head` (or `dlq export | head`, `sql … | head`) closes the pipe early: that is the reader being done, not an error,
 * so the command ends quietly with exit 0 instead of an EPIPE stack.
 */
export function endQuietlyWhenPipeCloses(): void {
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(0);
    throw err;
  });
}
