/** ETL settings for tests: real parsing, millisecond delays. */
import { loadEtlConfig, type EtlConfig } from '../../../src/etl/config.ts';
import { createLogger } from '../../../src/log.ts';

export function testConfig(exportDir: string, env: Record<string, string> = {}): EtlConfig {
  return loadEtlConfig({
    GAMESTREAM_ETL_POKE_INTERVAL: '10ms',
    GAMESTREAM_ETL_SENSOR_TIMEOUT: '2s',
    GAMESTREAM_ETL_RETRY_DELAY: '5ms',
    GAMESTREAM_ETL_EXPORT_DIR: exportDir,
    GAMESTREAM_ETL_CATCHUP: 'off',
    ...env,
  });
}

export const silentLog = createLogger('silent');
