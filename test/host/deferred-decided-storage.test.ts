import { describe, expect, it } from 'vitest';
import type { Entry } from '../../src/core/index.ts';
import { DeferredDecidedStorage } from '../../src/host/deferred-decided-storage.ts';
import { MemoryBacking, MemoryStorage } from '../../src/host/memory-storage.ts';

const entry = (slot: number): Entry => ({ slot, ballot: { round: 1, replicaId: 1 }, command: { kind: 'put', id: `c${slot}`, key: 'k', value: String(slot) } });

describe('storage: a decidedThrough alone rides on the next transaction', () => {
  it('holds a decided-index-only delta without a transaction, then writes it with the next entries', () => {
    const backing = new MemoryBacking();
    const inner = new MemoryStorage(backing);
    const s = new DeferredDecidedStorage(inner);
    s.persist({ entries: [entry(1), entry(2)] });
    expect(inner.transactions).toBe(1);
    s.persist({ entries: [], decidedThrough: 1 });
    s.persist({ entries: [], decidedThrough: 2 });
    expect(inner.transactions).toBe(1);
    expect(s.holding).toBe(true);
    expect(new MemoryStorage(backing).loadDurable().decidedThrough).toBe(0); // a crash now restarts from an older, still true, index
    s.persist({ entries: [entry(3)] });
    expect(inner.transactions).toBe(2);
    expect(s.holding).toBe(false);
    const after = new MemoryStorage(backing).loadDurable();
    expect(after.decidedThrough).toBe(2);
    expect([...after.entries].map((e) => e.slot)).toEqual([1, 2, 3]);
  });

  it('never lowers a decided prefix a delta carries, and flush writes a held one in one transaction', () => {
    const backing = new MemoryBacking();
    const inner = new MemoryStorage(backing);
    const s = new DeferredDecidedStorage(inner);
    s.persist({ entries: [entry(1), entry(2), entry(3)] });
    s.persist({ entries: [], decidedThrough: 2 });
    s.persist({ entries: [entry(4)], decidedThrough: 3 });
    expect(new MemoryStorage(backing).loadDurable().decidedThrough).toBe(3);
    s.persist({ entries: [], decidedThrough: 4 });
    s.flush();
    s.flush(); // nothing held: no transaction
    expect(inner.transactions).toBe(3);
    expect(new MemoryStorage(backing).loadDurable().decidedThrough).toBe(4);
  });

  it('writes a held index with a promise or a compaction, so the stored index never falls below the compacted prefix', () => {
    const backing = new MemoryBacking();
    const s = new DeferredDecidedStorage(new MemoryStorage(backing));
    s.persist({ entries: [entry(1), entry(2), entry(3)] });
    s.persist({ entries: [], decidedThrough: 3 });
    s.persist({ entries: [], compactThrough: 2, snapshot: { slot: 2, data: '{}' } });
    const after = new MemoryStorage(backing).loadDurable();
    expect(after.decidedThrough).toBe(3);
    expect(after.compactedThrough).toBe(2);
  });
});
