/**
 * A record's fingerprint: 32-bit FNV-1a of its bytes. Each checkpoint keeps the one of the last record it covers,
 * so that a run resuming a file can tell the file it reads from the one the warehouse read (a file replaced under
 * the same name). Not a defence against anyone: a cheap check that the record at the same place is the same.
 */
export function recordHash(bytes: Uint8Array): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < bytes.length; i++) h = Math.imul(h ^ bytes[i]!, 0x01000193);
  return h >>> 0;
}
