/**
 * The teardown a vitest global setup returns for a service it started: stops it once, also when the vitest
 * process exits without reaching the teardown (teardown runs after failed tests too; an exit may not).
 */
export function stopOnce(stopService: () => void): () => void {
  let stopped = false;
  const stop = (): void => {
    if (stopped) return;
    stopped = true;
    stopService();
  };
  process.once('exit', stop);
  return () => {
    process.off('exit', stop);
    stop();
  };
}
