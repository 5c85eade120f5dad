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
