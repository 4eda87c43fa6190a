import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Forks, not threads: the engine starts its own worker threads and signals child processes.
    pool: 'forks',
    // Two cores: integration tests spawn the daemon with worker threads of its own.
    maxWorkers: 2,
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // One real Kafka broker per run (skipped when GAMESTREAM_KAFKA_BROKERS names one); tests get it via inject.
    globalSetup: ['test/setup/kafka.ts'],
  },
});
