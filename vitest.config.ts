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
    // One real Kafka broker per run (skipped when GAMESTREAM_KAFKA_BROKERS names one), and one BigQuery emulator
    // (skipped when GAMESTREAM_TEST_BIGQUERY_ENDPOINT and _WRITE_ENDPOINT name one); tests get them via inject.
    // And one schema registry (Apicurio, Confluent API) for the Kafka Avro tests.
    globalSetup: ['test/setup/kafka.ts', 'test/setup/bigquery.ts', 'test/setup/schema-registry.ts'],
  },
});
