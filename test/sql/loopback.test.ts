// Which clients are on this machine, and the URL this machine reaches a server on.
import { describe, expect, it } from 'vitest';
import { isLoopback, localUrl } from '../../src/sql/loopback.ts';

describe('loopback', () => {
  it('is 127.0.0.0/8 and ::1, also as IPv4-mapped IPv6; nothing else', () => {
    expect(['127.0.0.1', '127.8.9.10', '::1', '::ffff:127.0.0.1', '::FFFF:127.0.0.2', '0:0:0:0:0:0:0:1'].map(isLoopback)).toEqual([true, true, true, true, true, true]);
    expect(['128.0.0.1', '10.0.0.1', '::ffff:192.168.1.1', '2001:db8::1', 'localhost', '', undefined, null, '127.0.0.1.evil'].map(isLoopback))
      .toEqual([false, false, false, false, false, false, false, false, false]);
  });

  it('reaches a server on every interface over loopback, any other address as it is', () => {
    expect([localUrl('0.0.0.0', 9464), localUrl('::', 9464), localUrl('127.0.0.1', 1), localUrl('::1', 2), localUrl('10.0.0.2', 3)])
      .toEqual(['http://127.0.0.1:9464', 'http://[::1]:9464', 'http://127.0.0.1:1', 'http://[::1]:2', 'http://10.0.0.2:3']);
  });
});
