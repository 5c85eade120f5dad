import { describe, expect, it } from 'vitest';
import { type Command, NOOP } from '../../src/core/index.ts';
import { KvStateMachine } from '../../src/kv/index.ts';

function applyAll(sm: KvStateMachine, commands: Command[]): unknown[] {
  return commands.map((c) => sm.apply(sm.appliedThrough + 1, c));
}

describe('kv: state machine', () => {
  it('puts, gets and deletes, with the revision being the slot that last changed the key', () => {
    const sm = new KvStateMachine();
    expect(applyAll(sm, [NOOP, { kind: 'put', id: 'a', key: 'x', value: '1' }, { kind: 'put', id: 'b', key: 'x', value: '2' }])).toEqual([
      { kind: 'noop' },
      { kind: 'put', ok: true, revision: 2 },
      { kind: 'put', ok: true, revision: 3 },
    ]);
    expect(sm.get('x')).toEqual({ key: 'x', value: '2', revision: 3, createRevision: 2 });
    expect(sm.apply(4, { kind: 'delete', id: 'c', key: 'x' })).toEqual({ kind: 'delete', deleted: true, revision: 4 });
    expect(sm.get('x')).toBeUndefined();
    expect(sm.apply(5, { kind: 'delete', id: 'd', key: 'x' })).toEqual({ kind: 'delete', deleted: false, revision: 5 });
  });

  it('compare-and-set succeeds only at the current revision, 0 meaning absent', () => {
    const sm = new KvStateMachine();
    expect(sm.apply(1, { kind: 'put', id: 'a', key: 'x', value: '1', ifRevision: 0 })).toEqual({ kind: 'put', ok: true, revision: 1 });
    expect(sm.apply(2, { kind: 'put', id: 'b', key: 'x', value: '2', ifRevision: 0 })).toEqual({
      kind: 'put',
      ok: false,
      code: 'revision_mismatch',
      currentRevision: 1,
    });
    expect(sm.apply(3, { kind: 'put', id: 'c', key: 'x', value: '3', ifRevision: 1 })).toEqual({ kind: 'put', ok: true, revision: 3 });
    expect(sm.get('x')?.value).toBe('3');
  });

  it('lists keys by prefix in key order, up to the limit', () => {
    const sm = new KvStateMachine();
    applyAll(sm, ['b/2', 'a/1', 'b/1', 'c', 'b/3'].map((key, i) => ({ kind: 'put', id: `p${i}`, key, value: key }) as Command));
    expect(sm.list('b/', 2).map((i) => i.key)).toEqual(['b/1', 'b/2']);
    expect(sm.list('', 10).map((i) => i.key)).toEqual(['a/1', 'b/1', 'b/2', 'b/3', 'c']);
    expect(sm.list('zz', 10)).toEqual([]);
  });

  it('applies a command with an idempotency key once and answers every retry with the first result', () => {
    const sm = new KvStateMachine();
    const first = sm.apply(1, { kind: 'put', id: 'a1', key: 'x', value: '1', idempotencyKey: 'req-1' });
    sm.apply(2, { kind: 'put', id: 'b', key: 'x', value: 'other' });
    const retry = sm.apply(3, { kind: 'put', id: 'a2', key: 'x', value: '1', idempotencyKey: 'req-1' });
    expect(retry).toEqual(first);
    expect(sm.get('x')).toEqual({ key: 'x', value: 'other', revision: 2, createRevision: 1 });
  });

  it('rejects an idempotency key reused for a different request and applies nothing', () => {
    const sm = new KvStateMachine();
    sm.apply(1, { kind: 'put', id: 'a', key: 'x', value: '1', idempotencyKey: 'k' });
    expect(sm.apply(2, { kind: 'put', id: 'b', key: 'x', value: 'other', idempotencyKey: 'k' })).toEqual({
      kind: 'rejected',
      code: 'idempotency_key_reused',
      firstSlot: 1,
    });
    expect(sm.apply(3, { kind: 'delete', id: 'c', key: 'x', idempotencyKey: 'k' })).toMatchObject({ kind: 'rejected' });
    expect(sm.get('x')).toEqual({ key: 'x', value: '1', revision: 1, createRevision: 1 });
  });

  it('forgets sessions by count and by age in slots, the same way on every replica', () => {
    const sm = new KvStateMachine({ sessionsMax: 2, sessionTtlSlots: 1_000 });
    for (let i = 1; i <= 3; i++) sm.apply(i, { kind: 'opaque', id: `o${i}`, data: 'd', idempotencyKey: `k${i}` });
    expect(sm.sessionCount).toBe(2);
    // k1 was evicted (oldest): its retry is applied again, at a new slot.
    expect(sm.apply(4, { kind: 'opaque', id: 'o1b', data: 'd', idempotencyKey: 'k1' })).toEqual({ kind: 'opaque', index: 4 });
    const aged = new KvStateMachine({ sessionsMax: 100, sessionTtlSlots: 2 });
    aged.apply(1, { kind: 'opaque', id: 'x', data: 'd', idempotencyKey: 'old' });
    aged.apply(2, NOOP);
    aged.apply(3, NOOP);
    expect(aged.sessionCount).toBe(1);
    aged.apply(4, NOOP); // slot 4 is 3 slots past slot 1: expired
    expect(aged.sessionCount).toBe(0);
  });

  it('keeps opaque log records out of the key space but answers them with their slot', () => {
    const sm = new KvStateMachine();
    expect(sm.apply(1, { kind: 'opaque', id: 'o', data: 'payload' })).toEqual({ kind: 'opaque', index: 1 });
    expect(sm.size).toBe(0);
  });

  it('restores exactly the state a snapshot captured, sessions included', () => {
    const sm = new KvStateMachine();
    sm.apply(1, { kind: 'put', id: 'a', key: 'x', value: '1', idempotencyKey: 'i1' });
    sm.apply(2, { kind: 'put', id: 'b', key: 'y', value: '2' });
    const copy = new KvStateMachine();
    copy.restore(sm.snapshot());
    expect(copy.snapshot()).toBe(sm.snapshot());
    expect(copy.appliedThrough).toBe(2);
    expect(copy.apply(3, { kind: 'put', id: 'a2', key: 'x', value: '1', idempotencyKey: 'i1' })).toEqual({ kind: 'put', ok: true, revision: 1 });
  });

  it('keeps a digest of each session\'s request, not its value: the snapshot holds a large value once, and retries and reuses are still told apart', () => {
    const sm = new KvStateMachine();
    const big = 'v'.repeat(20_000);
    sm.apply(1, { kind: 'put', id: 'a', key: 'x', value: big, idempotencyKey: 'k1' });
    const snap = sm.snapshot();
    expect(snap.split(big).length - 1).toBe(1); // the key's value, not a second copy in the session
    expect(snap.length).toBeLessThan(big.length + 500);
    const restored = new KvStateMachine();
    restored.restore(snap);
    expect(restored.apply(2, { kind: 'put', id: 'b', key: 'x', value: big, idempotencyKey: 'k1' })).toEqual({ kind: 'put', ok: true, revision: 1 });
    expect(restored.apply(3, { kind: 'put', id: 'c', key: 'x', value: `${big}!`, idempotencyKey: 'k1' })).toEqual({ kind: 'rejected', code: 'idempotency_key_reused', firstSlot: 1 });
  });

  it('tells a retry from a reuse for a session restored from an older snapshot, which holds the whole request', () => {
    const sm = new KvStateMachine();
    // A v2 snapshot as versions before the digest wrote it: the session's request is the request itself.
    const legacy = { v: 2, appliedIndex: 1, items: [['x', '1', 1, 1, null]], leases: [], sessions: [['k1', 1, { kind: 'put', ok: true, revision: 1 }, JSON.stringify(['put', 'x', '1', null])]] };
    sm.restore(JSON.stringify(legacy));
    expect(sm.apply(2, { kind: 'put', id: 'b', key: 'x', value: '1', idempotencyKey: 'k1' })).toEqual({ kind: 'put', ok: true, revision: 1 });
    expect(sm.apply(3, { kind: 'put', id: 'c', key: 'x', value: '2', idempotencyKey: 'k1' })).toEqual({ kind: 'rejected', code: 'idempotency_key_reused', firstSlot: 1 });
  });

  it('refuses to apply slots out of order', () => {
    const sm = new KvStateMachine();
    expect(() => sm.apply(2, NOOP)).toThrow(/applying slot 2 after 0/);
  });
});
