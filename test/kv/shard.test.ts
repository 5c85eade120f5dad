import { describe, expect, it } from 'vitest';
import type { Command, TxnCompare, TxnOp } from '../../src/core/index.ts';
import { HASH_SPACE, KvStateMachine, evenMap, keyHash, mapProblem, rangesOf, shardOfKey, utf8, xxHash32 } from '../../src/kv/index.ts';

function next(sm: KvStateMachine, c: Command) {
  return sm.apply(sm.appliedThrough + 1, c);
}

let ids = 0;
const id = (): string => `c${++ids}`;

/** Two shards of keyspace `ks` (map version 1), and a key owned by each. */
function twoShards() {
  const map = evenMap(2);
  const shards = [0, 1].map((i) => {
    const sm = new KvStateMachine();
    next(sm, { kind: 'shard-assign', id: id(), keyspace: 'ks', shard: i, version: 1, ranges: rangesOf(map, i) });
    return sm;
  });
  const keyOn = (shard: number, from = 0): string => {
    for (let i = from; ; i++) if (shardOfKey(map, `k${i}`) === shard) return `k${i}`;
  };
  return { map, shards, a: keyOn(0), b: keyOn(1), a2: keyOn(0, Number(keyOn(0).slice(1)) + 1) };
}

function prepare(txid: string, compare: TxnCompare[], success: TxnOp[], failure: TxnOp[] = [], deadlineMs = 1000): Command {
  return { kind: 'txn-prepare', id: id(), txid, coordinator: 'ks_s0000', deadlineMs, mapVersion: 1, compare, success, failure };
}

describe('partition: the stable hash and the shard map', () => {
  it('is xxHash32 with seed 0, matching the reference vectors', () => {
    // The vectors published with xxHash (and its Python binding's documentation).
    expect(keyHash('')).toBe(0x02cc5d05);
    expect(keyHash('a')).toBe(0x550d7456);
    expect(keyHash('abc')).toBe(0x32d153ff);
    expect(keyHash('Nobody inspects the spammish repetition')).toBe(0xe2293b2f);
    expect(xxHash32(utf8('abc'), 1)).toBe(0xaa3da8ff);
  });

  it('hashes the UTF-8 bytes of the key, as TextEncoder encodes them', () => {
    for (const key of ['é', '日本', '🙂', 'a/b c', 'x'.repeat(100)]) expect(utf8(key)).toEqual(new TextEncoder().encode(key));
  });

  it('splits the hash space into contiguous equal ranges, one per shard, and every hash has exactly one owner', () => {
    for (const n of [1, 3, 4, 64, 256]) {
      const map = evenMap(n);
      expect(mapProblem(map)).toBeNull();
      expect(map.ranges).toHaveLength(n);
      expect(map.ranges[0]!.from).toBe(0);
      expect(map.ranges[n - 1]!.to).toBe(HASH_SPACE);
    }
    expect(mapProblem({ version: 1, ranges: [{ from: 0, to: 10, shard: 0 }] })).toMatch(/end at 10/);
    expect(mapProblem({ version: 1, ranges: [{ from: 5, to: HASH_SPACE, shard: 0 }] })).toMatch(/starts at 5/);
  });

  it('spreads sequential keys evenly over 64 shards (no shard gets more than 1.25 times its share)', () => {
    const map = evenMap(64);
    const counts = new Array<number>(64).fill(0);
    for (let i = 0; i < 64_000; i++) counts[shardOfKey(map, `user-${i}`)]! += 1;
    expect(Math.max(...counts)).toBeLessThan(1.25 * 1000);
    expect(Math.min(...counts)).toBeGreaterThan(0.75 * 1000);
  });
});

describe('kv: a keyspace shard never applies a command for a key it does not own', () => {
  it('refuses a key outside its ranges, or a command routed under another map version, applying nothing', () => {
    const { shards, a, b } = twoShards();
    const s0 = shards[0]!;
    expect(next(s0, { kind: 'put', id: id(), key: b, value: 'x', mapVersion: 1 })).toEqual({ kind: 'rejected', code: 'wrong_shard', key: b, version: 1 });
    expect(next(s0, { kind: 'put', id: id(), key: a, value: 'x', mapVersion: 2 })).toEqual({ kind: 'rejected', code: 'wrong_shard', key: a, version: 1 });
    // Unrouted writes (through the stream itself) are held to the same ranges.
    expect(next(s0, { kind: 'delete', id: id(), key: b })).toMatchObject({ code: 'wrong_shard' });
    expect(next(s0, { kind: 'txn', id: id(), compare: [], success: [{ put: { key: a, value: '1' } }, { put: { key: b, value: '1' } }], failure: [], mapVersion: 1 })).toMatchObject({ code: 'wrong_shard', key: b });
    expect(s0.size).toBe(0);
    expect(next(s0, { kind: 'put', id: id(), key: a, value: 'x', mapVersion: 1 })).toMatchObject({ kind: 'put', ok: true });
  });

  it('answers wrong_shard with version 0 before it is assigned, and takes only a newer map version', () => {
    const sm = new KvStateMachine();
    expect(next(sm, { kind: 'put', id: id(), key: 'k', value: 'x', mapVersion: 1 })).toEqual({ kind: 'rejected', code: 'wrong_shard', key: 'k', version: 0 });
    expect(sm.shardGet('k', 1)).toEqual({ kind: 'wrong_shard', key: 'k', version: 0 });
    const all = [{ from: 0, to: HASH_SPACE }];
    expect(next(sm, { kind: 'shard-assign', id: id(), keyspace: 'ks', shard: 0, version: 1, ranges: all })).toEqual({ kind: 'shard-assigned', version: 1, applied: true });
    expect(next(sm, { kind: 'shard-assign', id: id(), keyspace: 'ks', shard: 0, version: 1, ranges: [] })).toEqual({ kind: 'shard-assigned', version: 1, applied: false });
    expect(sm.shard?.ranges).toEqual(all);
  });

  it('refuses leases and delete_prefix on a shard: neither fits a keyspace', () => {
    const { shards, a } = twoShards();
    expect(next(shards[0]!, { kind: 'put', id: id(), key: a, value: 'x', lease: '0000000000000001', mapVersion: 1 })).toMatchObject({ code: 'invalid_command' });
    expect(next(shards[0]!, { kind: 'txn', id: id(), compare: [], success: [{ deletePrefix: { prefix: '' } }], failure: [], mapVersion: 1 })).toMatchObject({ code: 'invalid_command' });
  });
});

describe('kv: cross-shard transactions at a participant and a coordinator', () => {
  it('prepares with intents, votes with its compares, and applies the chosen branch only at resolve, at the resolve slot', () => {
    const { shards, a } = twoShards();
    const s0 = shards[0]!;
    next(s0, { kind: 'put', id: id(), key: a, value: 'old', mapVersion: 1 });
    const vote = next(s0, prepare('t1', [{ key: a, target: 'value', op: '==', value: 'old' }], [{ put: { key: a, value: 'new' } }, { get: { key: a } }], [{ get: { key: a } }]));
    expect(vote).toMatchObject({ kind: 'txn-vote', txid: 't1', vote: 'yes', holds: true });
    expect(s0.get(a)!.value).toBe('old');
    expect(s0.shardGet(a, 1)).toEqual({ kind: 'intent', key: a, intent: { txid: 't1', coordinator: 'ks_s0000', deadlineMs: 1000 } });
    expect(s0.shardList('', 10, undefined, 1)).toMatchObject({ kind: 'intent', key: a });
    const resolved = next(s0, { kind: 'txn-resolve', id: id(), txid: 't1', outcome: 'commit-success' });
    expect(resolved).toEqual({ kind: 'txn-resolved', txid: 't1', applied: true, revision: 4 });
    expect(s0.get(a)).toMatchObject({ value: 'new', revision: 4 });
    // Resolving again (a recovery after the Worker did it) applies nothing.
    expect(next(s0, { kind: 'txn-resolve', id: id(), txid: 't1', outcome: 'commit-success' })).toMatchObject({ applied: false });
    expect(s0.get(a)).toMatchObject({ value: 'new', revision: 4 });
  });

  it('votes no at once when a key holds another transaction intent (no waiting), and refuses single-shard writes to it as locked', () => {
    const { shards, a, a2 } = twoShards();
    const s0 = shards[0]!;
    expect(next(s0, prepare('t1', [], [{ put: { key: a, value: '1' } }]))).toMatchObject({ vote: 'yes' });
    expect(next(s0, prepare('t2', [], [{ put: { key: a, value: '2' } }, { put: { key: a2, value: '2' } }]))).toMatchObject({ vote: 'no', key: a, holder: { txid: 't1' } });
    // The no vote locked nothing: a2 is free.
    expect(s0.shardGet(a2, 1)).toEqual({ kind: 'ok', value: null });
    expect(next(s0, { kind: 'put', id: id(), key: a, value: 'x', mapVersion: 1, idempotencyKey: 'w' })).toMatchObject({ code: 'locked', intent: { txid: 't1' } });
    next(s0, { kind: 'txn-resolve', id: id(), txid: 't1', outcome: 'abort' });
    expect(s0.get(a)).toBeUndefined();
    // The refused write was not remembered under its idempotency key: its retry applies.
    expect(next(s0, { kind: 'put', id: id(), key: a, value: 'x', mapVersion: 1, idempotencyKey: 'w' })).toMatchObject({ kind: 'put', ok: true });
  });

  it('shares intents between transactions that only read a key, and lets plain reads through them', () => {
    const { shards, a, a2 } = twoShards();
    const s0 = shards[0]!;
    expect(next(s0, prepare('r1', [{ key: a, target: 'revision', op: '==', value: 0 }], [{ put: { key: a2, value: '1' } }]))).toMatchObject({ vote: 'yes' });
    expect(next(s0, prepare('r2', [], [{ get: { key: a } }]))).toMatchObject({ vote: 'yes' });
    expect(s0.shardGet(a, 1)).toEqual({ kind: 'ok', value: null });
    expect(next(s0, { kind: 'put', id: id(), key: a, value: 'x', mapVersion: 1 })).toMatchObject({ code: 'locked' });
    expect(next(s0, prepare('w', [], [{ put: { key: a, value: '1' } }]))).toMatchObject({ vote: 'no' });
  });

  it('records the first outcome decided for a transaction and answers it to every later proposal', () => {
    const sm = new KvStateMachine();
    expect(next(sm, { kind: 'txn-decide', id: id(), txid: 't', outcome: null })).toEqual({ kind: 'txn-outcome', txid: 't', outcome: null });
    expect(next(sm, { kind: 'txn-decide', id: id(), txid: 't', outcome: 'abort' })).toEqual({ kind: 'txn-outcome', txid: 't', outcome: 'abort' });
    expect(next(sm, { kind: 'txn-decide', id: id(), txid: 't', outcome: 'commit-success' })).toEqual({ kind: 'txn-outcome', txid: 't', outcome: 'abort' });
    next(sm, { kind: 'txn-forget', id: id(), txid: 't' });
    expect(sm.outcome('t')).toBeUndefined();
  });

  it('keeps ownership, intents and outcomes across a snapshot, and a plain stream keeps the old snapshot format', () => {
    const { shards, a } = twoShards();
    const s0 = shards[0]!;
    next(s0, prepare('t1', [], [{ put: { key: a, value: '1' } }]));
    next(s0, { kind: 'txn-decide', id: id(), txid: 't0', outcome: 'abort' });
    const copy = new KvStateMachine();
    copy.restore(s0.snapshot());
    expect(copy.shard).toEqual(s0.shard);
    expect(copy.preparedIds()).toEqual(['t1']);
    expect(copy.outcome('t0')).toBe('abort');
    expect(copy.shardGet(a, 1)).toMatchObject({ kind: 'intent' });
    expect(next(copy, { kind: 'txn-resolve', id: id(), txid: 't1', outcome: 'commit-success' })).toMatchObject({ applied: true });
    expect(copy.get(a)?.value).toBe('1');
    const plain = new KvStateMachine();
    next(plain, { kind: 'put', id: id(), key: 'x', value: '1' });
    expect(JSON.parse(plain.snapshot()).v).toBe(2);
  });

  it('votes no on a transaction its own log already aborted (a recovery got to the coordinator first)', () => {
    const { shards, a } = twoShards();
    next(shards[0]!, { kind: 'txn-decide', id: id(), txid: 't9', outcome: 'abort' });
    expect(next(shards[0]!, prepare('t9', [], [{ put: { key: a, value: '1' } }]))).toMatchObject({ vote: 'no', key: null });
    expect(shards[0]!.shardGet(a, 1)).toEqual({ kind: 'ok', value: null });
  });
});
