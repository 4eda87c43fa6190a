/**
 * Drops one harmless Node warning that kafkajs 2.2.4 causes in every Kafka process: its request queue arms a
 * timer with a negative delay while nothing is pending (`throttledUntil` starts at -1), which Node runs after
 * 1 ms and reports as a TimeoutNegativeWarning on stderr. Every other warning still prints.
 */
type EmitWarning = (warning: string | Error, ...rest: unknown[]) => void;

const emitWarning = process.emitWarning.bind(process) as EmitWarning;

process.emitWarning = ((warning: string | Error, ...rest: unknown[]) => {
  const opt = rest[0];
  const type = typeof opt === 'string' ? opt : (opt as { type?: string } | undefined)?.type ?? (warning as Error).name;
  if (type === 'TimeoutNegativeWarning') return;
  emitWarning(warning, ...rest);
}) as typeof process.emitWarning;
