import { env } from 'cloudflare:workers';
import { createExecutionContext, createScheduledController, waitOnExecutionContext } from 'cloudflare:test';
import worker from '../../src/index.ts';
import { describe, expect, it } from 'vitest';
import { restoreStream } from '../../src/api/backup.ts';
import { sha256Hex } from '../../src/host/seed.ts';
import { admin, api, eventually, put, replica, stableLeader } from './helpers.ts';

const S = 'backup';

/** Every key of a stream, with values and revisions (linearizable). */
async function everything(stream: string): Promise<unknown[]> {
  let res = await api('GET', `/v1/streams/${stream}/kv?limit=1000`);
  for (let i = 0; i < 3 && res.status === 503; i++) res = await api('GET', `/v1/streams/${stream}/kv?limit=1000`); // as save() does
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return res.body.items;
}

/** A snapshot; a 503 (no leader confirmed the read in time: a loaded machine) is retried, as its message says to. */
async function save(stream: string): Promise<any> {
  let res = await api('GET', `/v1/streams/${stream}/snapshot`, undefined, admin);
  for (let i = 0; i < 3 && res.status === 503; i++) res = await api('GET', `/v1/streams/${stream}/snapshot`, undefined, admin);
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return res.body;
}

describe('backup and restore', () => {
  it('backup: a stream saved and restored into a new stream reads back identically, and goes on from the snapshot\'s slot', async () => {
    await stableLeader(S);
    for (const [k, v] of [['a', '1'], ['b', 'two'], ['c/d', 'ünïcode ✓'], ['gone', 'x']]) await put(S, k!, v!);
    expect((await api('DELETE', `/v1/streams/${S}/kv/gone`)).status).toBe(200);
    const once = await api('PUT', `/v1/streams/${S}/kv/once`, { value: 'first' }, { 'idempotency-key': 'backup-once' });
    const doc = await save(S);
    expect(doc).toMatchObject({ format: 'edgepaxos-snapshot', version: 1, stream: S, slot: expect.any(Number), definition: { name: S, replicas: [{ id: 1 }, { id: 2 }, { id: 3 }] } });
    expect(doc.sha256).toBe(await sha256Hex(doc.state));
    expect(doc.bytes).toBe(new TextEncoder().encode(doc.state).length);
    expect(doc.slot).toBeGreaterThanOrEqual(once.body.revision);

    const restored = await api('POST', '/v1/streams/backup-copy/restore', doc, admin);
    expect(restored.status, JSON.stringify(restored.body)).toBe(201);
    expect(restored.body).toMatchObject({ name: 'backup-copy', state: 'active', restored_slot: doc.slot, definition: { name: 'backup-copy', restore: { slot: doc.slot, sha256: doc.sha256 } } });
    await stableLeader('backup-copy'); // its replicas elect once seeded
    const original = await everything(S);
    expect(original.map((i: any) => i.key)).toEqual(['a', 'b', 'c/d', 'once']);
    expect(await everything('backup-copy')).toEqual(original); // values and revisions alike

    // The restored stream goes on after the snapshot's slot, and remembers idempotency keys.
    const next = await put('backup-copy', 'after', 'restore');
    expect(next).toBeGreaterThan(doc.slot);
    const retried = await api('PUT', '/v1/streams/backup-copy/kv/once', { value: 'first' }, { 'idempotency-key': 'backup-once' });
    expect(retried.body).toEqual(once.body);
    const log = await api('GET', '/v1/streams/backup-copy/log?from=1');
    expect(log.status).toBe(410); // the log before the snapshot is not in it
    expect(log.body.error).toMatchObject({ code: 'compacted', first_index: doc.slot + 1 });
    expect((await api('DELETE', '/v1/streams/backup-copy', undefined, admin)).body.state).toBe('deleted');
  });

  it('backup: a corrupted snapshot is refused with a clear error and creates nothing; a restore never overwrites a stream', async () => {
    const doc = await save(S);
    const corrupted = { ...doc, state: doc.state.replace('"a"', '"A"') };
    const refused = await api('POST', '/v1/streams/backup-bad/restore', corrupted, admin);
    expect(refused.status).toBe(400);
    expect(refused.body.error.code).toBe('invalid_snapshot');
    expect(refused.body.error.message).toMatch(/^the snapshot is corrupted: its state's SHA-256 is [0-9a-f]{64}, not [0-9a-f]{64} as it says; nothing was changed$/);
    expect((await api('GET', '/v1/streams/backup-bad', undefined, admin)).status).toBe(404);
    const lying = { ...doc, slot: doc.slot + 1 };
    expect((await api('POST', '/v1/streams/backup-bad/restore', lying, admin)).body.error.code).toBe('invalid_snapshot');
    expect((await api('POST', '/v1/streams/backup-bad/restore', { ...doc, extra: 1 }, admin)).body.error).toMatchObject({ code: 'invalid_request' });
    expect((await api('POST', `/v1/streams/${S}/restore`, doc, admin)).body.error.code).toBe('configured_stream');
    expect((await api('GET', `/v1/streams/${S}/snapshot`)).status).toBe(403); // a write token is not an admin
    expect((await api('POST', '/v1/streams/backup-bad/restore', doc)).body.error.code).toBe('forbidden'); // nor may it restore
    expect((await api('POST', '/v1/streams', { ...doc.definition, name: 'sneaky', restore: { slot: 5, sha256: doc.sha256 } }, admin)).status).toBe(400);
  });

  it('backup: a restore cut short leaves the stream restoring, the replica without its seed takes no part, and repeating the restore finishes it', async () => {
    const doc = await save(S);
    // The Worker reaches replicas 1 and 2 but not 3 (as if it died after seeding two of them).
    const names = new Map<string, string>();
    const cutOff: Cloudflare.Env = {
      ...env,
      REPLICA: {
        idFromName: (name: string) => {
          const id = env.REPLICA.idFromName(name);
          names.set(id.toString(), name);
          return id;
        },
        get: (id: DurableObjectId, options?: DurableObjectNamespaceGetDurableObjectOptions) => {
          const stub = env.REPLICA.get(id, options);
          if (!names.get(id.toString())?.endsWith('/3')) return stub;
          return new Proxy(stub, { get: (t, p) => (p === 'seed' ? () => Promise.reject(new Error('unreachable')) : Reflect.get(t, p)) });
        },
      } as unknown as Cloudflare.Env['REPLICA'],
    };
    const partial = await restoreStream(cutOff, 'backup-cut', doc, () => {});
    expect(partial).toMatchObject({ state: 'restoring', not_reached: [3] });
    const generation = partial.incarnation;

    const served = await api('GET', '/v1/streams/backup-cut/kv/a');
    expect(served.status).toBe(503);
    expect(served.body.error.code).toBe('restoring');
    const listed = (await api('GET', '/v1/streams', undefined, admin)).body.streams.find((s: any) => s.name === 'backup-cut');
    expect(listed).toMatchObject({ state: 'restoring', leader_id: null });
    // Replica 3 has no seed: it answers nothing but 'restoring', so it can be in no quorum.
    const definition = (await api('GET', '/v1/streams/backup-cut', undefined, admin)).body.definition;
    expect(definition.restore).toEqual({ slot: doc.slot, sha256: doc.sha256 });
    const three = await replica('backup-cut', 3, generation).status({ stream: 'backup-cut', replicaId: 3, generation, definition });
    expect(three).toMatchObject({ kind: 'error', code: 'restoring' });
    const other = { ...doc, state: doc.state.replace('"a"', '"z"') };
    other.sha256 = await sha256Hex(other.state);
    other.bytes = new TextEncoder().encode(other.state).length;
    expect((await api('POST', '/v1/streams/backup-cut/restore', other, admin)).body.error.code).toBe('stream_exists');

    const finished = await api('POST', '/v1/streams/backup-cut/restore', doc, admin);
    expect(finished.status, JSON.stringify(finished.body)).toBe(201);
    await stableLeader('backup-cut');
    expect(await everything('backup-cut')).toEqual(await everything(S));
    expect(await put('backup-cut', 'later', 'v')).toBeGreaterThan(doc.slot);
    await eventually('replica 3 follows, caught up', async () => {
      const st = (await api('GET', '/v1/streams/backup-cut/status')).body;
      const n = st.nodes.find((x: any) => x.node_id === 3);
      return n.healthy && n.applied_index === st.commit_index;
    });
    expect((await api('DELETE', '/v1/streams/backup-cut', undefined, admin)).body.state).toBe('deleted');
  });

  it('backup: the cron trigger saves each stream to the R2 bucket, keeps the newest few, and a saved backup restores', async () => {
    await stableLeader(S);
    await put(S, 'cron', 'nightly');
    const nightly = { ...env, EDGEPAXOS_BACKUP_STREAMS: S, EDGEPAXOS_BACKUP_KEEP: '2' };
    for (let i = 0; i < 3; i++) {
      const ctx = createExecutionContext();
      await worker.scheduled(createScheduledController({ cron: '0 3 * * *' }), nightly, ctx);
      await waitOnExecutionContext(ctx);
    }
    const listed = await env.BACKUPS!.list({ prefix: `edgepaxos/${S}/` });
    expect(listed.objects).toHaveLength(2); // the oldest of three was pruned
    const newest = listed.objects.map((o) => o.key).sort().at(-1)!;
    expect(newest).toMatch(new RegExp(`^edgepaxos/${S}/\\d{4}-\\d{2}-\\d{2}T[0-9-]+Z-slot\\d+\\.snapshot\\.json$`));
    const object = await env.BACKUPS!.get(newest);
    const doc = JSON.parse(await object!.text());
    expect(object!.customMetadata).toEqual({ stream: S, slot: String(doc.slot), sha256: doc.sha256 });
    expect(doc.sha256).toBe(await sha256Hex(doc.state));
    const restored = await api('POST', '/v1/streams/backup-nightly/restore', doc, admin);
    expect(restored.status, JSON.stringify(restored.body)).toBe(201);
    await stableLeader('backup-nightly');
    expect((await api('GET', '/v1/streams/backup-nightly/kv/cron')).body).toMatchObject({ value: 'nightly' });
    expect((await api('DELETE', '/v1/streams/backup-nightly', undefined, admin)).body.state).toBe('deleted');
  });
});
