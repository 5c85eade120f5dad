import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Command, TxnCompare, TxnOp } from '../../src/core/index.ts';
import { type KvChange, KvStateMachine, TXN_OPS_MAX, TXN_READ_BYTES_MAX } from '../../src/kv/index.ts';

/** A state machine that records every change it reports, by revision. */
function recording(): { sm: KvStateMachine; changes: KvChange[]; restores: number[] } {
  const sm = new KvStateMachine();
  const changes: KvChange[] = [];
  const restores: number[] = [];
  sm.listen({ changed: (_revision, cs) => changes.push(...cs), restored: (at) => restores.push(at) });
  return { sm, changes, restores };
}

function next(sm: KvStateMachine, c: Command) {
  return sm.apply(sm.appliedThrough + 1, c);
}

function txn(compare: TxnCompare[], success: TxnOp[], failure: TxnOp[] = [], idempotencyKey?: string): Command {
  return { kind: 'txn', id: `t${Math.random()}`, compare, success, failure, ...(idempotencyKey ? { idempotencyKey } : {}) };
}

describe('kv: transactions', () => {
  it('applies the success branch when every compare holds, all at the slot it was decided at', () => {
    const { sm, changes } = recording();
    next(sm, { kind: 'put', id: 'p', key: 'a', value: '1' });
    const r = next(sm, txn([{ key: 'a', target: 'value', op: '==', value: '1' }], [{ put: { key: 'b', value: '2' } }, { delete: { key: 'a' } }, { get: { key: 'b' } }]));
    expect(r).toEqual({
      kind: 'txn',
      succeeded: true,
      revision: 2,
      results: [
        { kind: 'put', revision: 2 },
        { kind: 'delete', deleted: 1 },
        { kind: 'get', key: 'b', item: { key: 'b', value: '2', revision: 2, createRevision: 2 } },
      ],
    });
    expect(changes).toEqual([
      { type: 'put', key: 'a', value: '1', revision: 1, createRevision: 1 },
      { type: 'put', key: 'b', value: '2', revision: 2, createRevision: 2 },
      { type: 'delete', key: 'a', revision: 2 },
    ]);
  });

  it('applies the failure branch when a compare fails, and a failed branch with no operations changes nothing', () => {
    const { sm, changes } = recording();
    next(sm, { kind: 'put', id: 'p', key: 'a', value: '1' });
    expect(next(sm, txn([{ key: 'a', target: 'revision', op: '==', value: 7 }], [{ put: { key: 'a', value: 'x' } }], [{ get: { key: 'a' } }]))).toMatchObject({
      succeeded: false,
      revision: 2,
      results: [{ kind: 'get', item: { value: '1', revision: 1 } }],
    });
    expect(next(sm, txn([{ key: 'zz', target: 'revision', op: '>', value: 0 }], [{ delete: { key: 'a' } }]))).toEqual({ kind: 'txn', succeeded: false, revision: 3, results: [] });
    expect(changes).toHaveLength(1);
    expect(sm.get('a')?.value).toBe('1');
  });

  it('compares revisions with < and > and 0 meaning absent, create revisions too, and never holds a value compare on an absent key', () => {
    const sm = new KvStateMachine();
    next(sm, { kind: 'put', id: 'p1', key: 'a', value: '1' });
    next(sm, { kind: 'put', id: 'p2', key: 'a', value: '2' });
    const holds = (c: TxnCompare): boolean => (next(sm, txn([c], [])) as { succeeded: boolean }).succeeded;
    expect(holds({ key: 'a', target: 'revision', op: '==', value: 2 })).toBe(true);
    expect(holds({ key: 'a', target: 'create_revision', op: '==', value: 1 })).toBe(true);
    expect(holds({ key: 'a', target: 'revision', op: '>', value: 1 })).toBe(true);
    expect(holds({ key: 'a', target: 'revision', op: '<', value: 2 })).toBe(false);
    expect(holds({ key: 'a', target: 'value', op: '!=', value: '1' })).toBe(true);
    expect(holds({ key: 'nope', target: 'revision', op: '==', value: 0 })).toBe(true);
    expect(holds({ key: 'nope', target: 'create_revision', op: '==', value: 0 })).toBe(true);
    expect(holds({ key: 'nope', target: 'value', op: '==', value: '' })).toBe(false);
    expect(holds({ key: 'nope', target: 'value', op: '!=', value: 'x' })).toBe(false);
  });

  it('keeps the create revision across updates and starts it again after a delete', () => {
    const sm = new KvStateMachine();
    next(sm, { kind: 'put', id: 'p1', key: 'a', value: '1' });
    next(sm, txn([], [{ put: { key: 'a', value: '2' } }]));
    expect(sm.get('a')).toMatchObject({ revision: 2, createRevision: 1 });
    next(sm, { kind: 'delete', id: 'd', key: 'a' });
    next(sm, txn([], [{ put: { key: 'a', value: '3' } }]));
    expect(sm.get('a')).toMatchObject({ revision: 4, createRevision: 4 });
  });

  it('deletes a prefix in key order, one change per key, and counts what it removed', () => {
    const { sm, changes } = recording();
    for (const k of ['p/b', 'p/a', 'q', 'p/c']) next(sm, { kind: 'put', id: k, key: k, value: k });
    changes.length = 0;
    expect(next(sm, txn([], [{ deletePrefix: { prefix: 'p/' } }, { delete: { key: 'p/a' } }]))).toMatchObject({ results: [{ kind: 'delete', deleted: 3 }, { kind: 'delete', deleted: 0 }] });
    expect(changes).toEqual(['p/a', 'p/b', 'p/c'].map((key) => ({ type: 'delete', key, revision: 5 })));
    expect(sm.list('', 10).map((i) => i.key)).toEqual(['q']);
  });

  it('lets a get see the earlier writes of its own transaction', () => {
    const sm = new KvStateMachine();
    next(sm, { kind: 'put', id: 'p', key: 'a', value: 'old' });
    expect(next(sm, txn([], [{ delete: { key: 'a' } }, { get: { key: 'a' } }, { put: { key: 'b', value: 'new' } }, { get: { key: 'b' } }]))).toMatchObject({
      results: [{ deleted: 1 }, { item: null }, { revision: 2 }, { item: { value: 'new', createRevision: 2 } }],
    });
  });

  it('refuses a malformed transaction without applying anything or throwing', () => {
    const { sm, changes } = recording();
    const bad: [TxnCompare[], TxnOp[]][] = [
      [[{ key: 'a', target: 'value', op: '<', value: 'x' }], [{ put: { key: 'b', value: '1' } }]],
      [[{ key: 'a', target: 'revision', op: '==', value: 'x' }], []],
      [[], [{ put: { key: 'b', value: '1' } }, { delete: { key: 'b' } }]],
      [[], [{ deletePrefix: { prefix: 'b' } }, { put: { key: 'bb', value: '1' } }]],
      [[], [{ put: { key: 'b', value: '1', lease: 'x', ignoreLease: true } }]],
      [[], Array.from({ length: TXN_OPS_MAX + 1 }, (_, i) => ({ get: { key: `k${i}` } }))],
      [[], [{ get: { key: '' } }]],
    ];
    for (const [compare, success] of bad) expect(next(sm, txn(compare, success))).toMatchObject({ kind: 'rejected', code: 'invalid_command' });
    expect(changes).toEqual([]);
    expect(sm.size).toBe(0);
  });

  it('applies nothing when a put names a lease that does not exist', () => {
    const { sm, changes } = recording();
    expect(next(sm, txn([], [{ put: { key: 'a', value: '1' } }, { put: { key: 'b', value: '2', lease: '00000000000000ff' } }]))).toEqual({
      kind: 'rejected',
      code: 'lease_not_found',
      lease: '00000000000000ff',
    });
    expect(sm.size).toBe(0);
    expect(changes).toEqual([]);
  });

  it('applies nothing when its gets would read more than the limit', () => {
    const sm = new KvStateMachine();
    const big = 'x'.repeat(TXN_READ_BYTES_MAX / 2);
    next(sm, { kind: 'put', id: 'p1', key: 'a', value: big });
    next(sm, { kind: 'put', id: 'p2', key: 'b', value: big });
    expect(next(sm, txn([], [{ get: { key: 'a' } }, { get: { key: 'b' } }, { delete: { key: 'a' } }]))).toMatchObject({ kind: 'rejected', code: 'txn_too_large' });
    expect(sm.get('a')).toBeDefined();
  });

  it('answers a retried transaction with its first result, and refuses its idempotency key for another', () => {
    const sm = new KvStateMachine();
    const first = next(sm, txn([{ key: 'a', target: 'revision', op: '==', value: 0 }], [{ put: { key: 'a', value: '1' } }], [], 'once'));
    expect(next(sm, txn([{ key: 'a', target: 'revision', op: '==', value: 0 }], [{ put: { key: 'a', value: '1' } }], [], 'once'))).toEqual(first);
    expect(next(sm, txn([], [{ put: { key: 'a', value: '2' } }], [], 'once'))).toMatchObject({ kind: 'rejected', code: 'idempotency_key_reused', firstSlot: 1 });
  });

  it('a delete with if_revision applies only at that revision', () => {
    const sm = new KvStateMachine();
    next(sm, { kind: 'put', id: 'p', key: 'a', value: '1' });
    expect(next(sm, { kind: 'delete', id: 'd1', key: 'a', ifRevision: 7 })).toEqual({ kind: 'rejected', code: 'revision_mismatch', currentRevision: 1 });
    expect(sm.get('a')).toBeDefined();
    expect(next(sm, { kind: 'delete', id: 'd2', key: 'a', ifRevision: 1 })).toEqual({ kind: 'delete', deleted: true, revision: 3 });
  });

  it('property: a transaction changes the same keys as its operations applied one by one, and reports one change per changed key', () => {
    const key = fc.constantFrom('a', 'b', 'c', 'd');
    const op: fc.Arbitrary<TxnOp> = fc.oneof(
      fc.record({ put: fc.record({ key, value: fc.string({ maxLength: 3 }) }) }),
      fc.record({ delete: fc.record({ key }) }),
      fc.record({ get: fc.record({ key }) }),
    );
    fc.assert(
      fc.property(fc.array(fc.tuple(key, fc.string({ maxLength: 2 })), { maxLength: 4 }), fc.array(op, { maxLength: 6 }), (initial, ops) => {
        const seen = new Set<string>();
        const distinct = ops.filter((o) => {
          const k = 'put' in o ? o.put.key : 'delete' in o ? o.delete.key : null;
          if (k === null) return true;
          if (seen.has(k)) return false;
          seen.add(k);
          return true;
        });
        const { sm, changes } = recording();
        const oneByOne = new KvStateMachine();
        for (const [k, v] of initial) {
          next(sm, { kind: 'put', id: k, key: k, value: v });
          next(oneByOne, { kind: 'put', id: k, key: k, value: v });
        }
        changes.length = 0;
        const before = new Map(sm.list('', 10).map((i) => [i.key, i.value]));
        expect(next(sm, txn([], distinct))).toMatchObject({ kind: 'txn', succeeded: true });
        for (const o of distinct) {
          if ('put' in o) next(oneByOne, { kind: 'put', id: 'x', key: o.put.key, value: o.put.value });
          if ('delete' in o) next(oneByOne, { kind: 'delete', id: 'x', key: o.delete.key });
        }
        const after = new Map(sm.list('', 10).map((i) => [i.key, i.value]));
        expect([...after]).toEqual(oneByOne.list('', 10).map((i) => [i.key, i.value]));
        const changed = new Set([...new Set([...before.keys(), ...after.keys()])].filter((k) => before.get(k) !== after.get(k) || distinct.some((o) => 'put' in o && o.put.key === k)));
        expect(new Set(changes.map((c) => c.key))).toEqual(changed);
        expect(changes.length).toBe(changed.size);
      }),
      { numRuns: 300 },
    );
  });
});
