/**
 * Vitest global setup: one real schema registry (Apicurio Registry, Confluent-compatible API) for the whole
 * `vitest run`, shared through `inject('schemaRegistry')`. Tests register schemas under random subjects, so
 * files running in parallel do not meet. A test may stop and restart it (same port, same data dir, schemas kept)
 * to play an outage; the teardown stops whichever process then holds the data dir's pid file.
 */
import type { TestProject } from 'vitest/node';
import { startLocalSchemaRegistry, stopLocalSchemaRegistry, type LocalSchemaRegistry } from './schema-registry-server.ts';
import { stopOnce } from './teardown.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    schemaRegistry: { url: string; port: number; dataDir: string };
  }
}

export default async function setup(project: TestProject): Promise<() => void> {
  const reg: LocalSchemaRegistry = await startLocalSchemaRegistry();
  process.stderr.write(`[schema-registry] test registry ${reg.url} (pid ${reg.pid}) ready in ${(reg.startMs / 1000).toFixed(1)} s\n`);
  project.provide('schemaRegistry', { url: reg.url, port: reg.port, dataDir: reg.dataDir });
  return stopOnce(() => stopLocalSchemaRegistry(reg));
}
