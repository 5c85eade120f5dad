import { exports } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { EdgePaxosClient, watchForever } from '../../src/client/index.ts';
import { TEST_TOKENS } from './test-config.ts';

// The README's "configuration watched by many Workers", run: three watchers (each as one Worker
// would run it; the typed client has the binding's methods, so `env.PAXOS` is one here) follow a
// configuration that changes three times. The README's lines are kept as they are; the test adds
// only a way to stop once the last version arrived.

const env = { PAXOS: new EdgePaxosClient({ url: 'https://edgepaxos.test', token: TEST_TOKENS.writer, fetch: (input, init) => exports.default.fetch(input, init) }) };

async function worker(): Promise<unknown[]> {
  const seen: unknown[] = [];
  const current = await env.PAXOS.get('default', 'config/flags');
  let flags = JSON.parse(current?.value ?? '{}');
  seen.push(flags);
  for await (const e of watchForever(env.PAXOS, 'default', { key: 'config/flags', fromRevision: (current?.revision ?? 0) + 1 })) {
    if (e.type === 'put') flags = JSON.parse(e.value); // every change, once, in order
    if (e.type === 'put') seen.push(flags);
    if (flags.version === 3) break;
  }
  return seen;
}

describe('readme: worked examples', () => {
  it('readme: a configuration watched by many Workers: each reads it once, then sees every later version once and in order', async () => {
    await env.PAXOS.put('default', 'config/flags', JSON.stringify({ version: 0, beta: false }));
    const watchers = [worker(), worker(), worker()];
    // The watchers have read version 0 once this change is decided after their reads; changes before their watch opened are replayed.
    for (let version = 1; version <= 3; version++) await env.PAXOS.put('default', 'config/flags', JSON.stringify({ version, beta: version % 2 === 1 }));
    for (const seen of await Promise.all(watchers)) {
      const versions = (seen as { version: number }[]).map((f) => f.version);
      // Each started from what it read (0, or a later version if its read came after a change), then every later version once.
      expect(versions).toEqual(Array.from({ length: 4 - versions[0]! }, (_, i) => versions[0]! + i));
      expect(versions.at(-1)).toBe(3);
    }
  });
});
