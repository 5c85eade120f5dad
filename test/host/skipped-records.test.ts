import { describe, expect, it } from 'vitest';
import { MemoryStorage } from '../../src/host/memory-storage.ts';
import { SkippedRecords } from '../../src/host/skipped-records.ts';

// The record slots a log read skips, kept by the Durable Object host as the
// runner applies entries, and stored when a snapshot leaves them behind.

const ballot = { round: 1, replicaId: 1 };
const record = (slot: number) => ({ slot, ballot, command: { kind: 'opaque' as const, id: `r${slot}`, data: 'd' } });

describe('skipped records', () => {
  it('skips a record that was not appended at its own slot (a retry, a refusal), and nothing else', () => {
    const s = new SkippedRecords(new MemoryStorage());
    s.noteApplied(record(1), { kind: 'opaque', index: 1 });
    s.noteApplied(record(2), { kind: 'opaque', index: 1 }); // a retry answered with the first append
    s.noteApplied(record(3), { kind: 'rejected', code: 'idempotency_key_reused', firstSlot: 1 });
    s.noteApplied({ slot: 4, ballot, command: { kind: 'put', id: 'p', key: 'k', value: 'v' } }, { kind: 'put', ok: true, revision: 4 });
    expect([1, 2, 3, 4].map((slot) => s.has(slot))).toEqual([false, true, true, false]);
  });

  it('stores the skipped slots a snapshot leaves behind, forgets those compacted away, and a restart reads them back', () => {
    const storage = new MemoryStorage();
    const s = new SkippedRecords(storage);
    for (const slot of [2, 5, 9]) s.noteApplied(record(slot), { kind: 'opaque', index: 1 });
    s.compacted(4, 8); // the log starts at 4; the snapshot covers through 8
    const restarted = new SkippedRecords(new MemoryStorage(storage.backing));
    expect([2, 5, 9].map((slot) => restarted.has(slot))).toEqual([false, true, false]); // 9 comes back by replay
  });
});
