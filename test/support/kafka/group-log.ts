// What the test broker's group coordinator decided for one consumer group (joins, rebalances, members it
// dropped and why), for the failure report of a test that waits on a hand-over between consumers.
import { existsSync, readFileSync } from 'node:fs';

export function groupLogLines(path: string, groupId: string): string[] {
  if (path === '' || groupId === '' || !existsSync(path)) return [];
  const escaped = groupId.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const named = new RegExp(`group ${escaped}(?![\\w.-])`);
  return readFileSync(path, 'utf8').split('\n').filter((l) => named.test(l));
}
