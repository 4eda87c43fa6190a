import { readFileSync } from 'node:fs';

/** The product version, stored with every dead letter so a replay knows which rules rejected it. */
export const GAMESTREAM_VERSION: string = (
  JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }
).version;
