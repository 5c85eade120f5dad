import { describe, expect, it } from 'vitest';
import { env } from 'cloudflare:workers';
import { runInDurableObject } from 'cloudflare:test';
import { SqliteStorage } from '../../src/host/sqlite-storage.ts';
import { storageContract } from '../host/storage-contract.ts';

let n = 0;

// The same contract as the in-memory storage, on a Durable Object's SQLite storage.
storageContract('Durable Object SQLite', async (body) => {
  const stub = env.REPLICA.get(env.REPLICA.idFromName(`storage-contract-${++n}`));
  await runInDurableObject(stub, (_instance, state) => {
    body(() => new SqliteStorage(state.storage));
  });
});

describe('Durable Object SQLite: data stored by earlier code', () => {
  it('reads configurations stored before the core called the member role DCF calls follower "electable"', async () => {
    const stub = env.REPLICA.get(env.REPLICA.idFromName(`storage-legacy-${++n}`));
    await runInDurableObject(stub, (_instance, state) => {
      const storage = new SqliteStorage(state.storage); // creates the tables
      const legacy = { members: [{ id: 1, role: 'follower', priority: 2, weight: 1, group: 0 }, { id: 2, role: 'logger', priority: 0, weight: 1, group: 0 }], policy: {} };
      // Written as the earlier code wrote them: a config command in the log, and the base configuration.
      state.storage.sql.exec('INSERT INTO ep_entries (slot, ballot_round, ballot_replica, command) VALUES (1, 1, 1, ?)', JSON.stringify({ kind: 'config', id: 'c1', configuration: legacy }));
      storage.writeMeta('base_config', JSON.stringify({ slot: 0, configuration: legacy }));
      const loaded = storage.loadDurable();
      const roles = (c: { members: readonly { role: string }[] }): string[] => c.members.map((m) => m.role);
      const [entry] = [...loaded.entries];
      expect(entry?.command.kind === 'config' ? roles(entry.command.configuration) : null).toEqual(['electable', 'logger']);
      expect(roles(loaded.baseConfig!.configuration)).toEqual(['electable', 'logger']);
    });
  });
});
