import { describe, expect, it } from 'vitest';
import type { Command } from '../../src/core/index.ts';
import type { ReplicaStorage } from '../../src/host/storage.ts';

/**
 * Runs `body` against one storage; `open()` gives a new handle on the same
 * underlying data (what a restarted replica would get). The body is
 * synchronous: every implementation's storage calls are.
 */
export type WithStorage = (body: (open: () => ReplicaStorage) => void) => Promise<void>;

const put = (id: string): Command => ({ kind: 'put', id, key: `k-${id}`, value: `v-${id}` });

/** The contract every ReplicaStorage implementation must meet, run against each of them. */
export function storageContract(name: string, withStorage: WithStorage): void {
  describe(`storage contract: ${name}`, () => {
    it('a new storage holds the empty durable state', () =>
      withStorage((open) => {
        const d = open().loadDurable();
        expect(d.promised).toEqual({ round: 0, replicaId: 0 });
        expect(d.decidedThrough).toBe(0);
        expect([...d.entries]).toEqual([]);
      }));

    it('what one handle persists, a reopened handle loads, entries in slot order', () =>
      withStorage((open) => {
        const s = open();
        s.persist({ promised: { round: 3, replicaId: 2 }, entries: [{ slot: 2, ballot: { round: 3, replicaId: 2 }, command: put('b') }] });
        s.persist({ entries: [{ slot: 1, ballot: { round: 3, replicaId: 2 }, command: { kind: 'noop' } }], decidedThrough: 2 });
        const d = open().loadDurable();
        expect(d.promised).toEqual({ round: 3, replicaId: 2 });
        expect(d.decidedThrough).toBe(2);
        expect([...d.entries]).toEqual([
          { slot: 1, ballot: { round: 3, replicaId: 2 }, command: { kind: 'noop' } },
          { slot: 2, ballot: { round: 3, replicaId: 2 }, command: put('b') },
        ]);
      }));

    it('a later write of a slot replaces the earlier one, and absent fields keep their values', () =>
      withStorage((open) => {
        const s = open();
        s.persist({ promised: { round: 1, replicaId: 1 }, entries: [{ slot: 1, ballot: { round: 1, replicaId: 1 }, command: put('old') }] });
        s.persist({ entries: [{ slot: 1, ballot: { round: 2, replicaId: 3 }, command: put('new') }] });
        const d = open().loadDurable();
        expect(d.promised).toEqual({ round: 1, replicaId: 1 });
        expect([...d.entries]).toEqual([{ slot: 1, ballot: { round: 2, replicaId: 3 }, command: put('new') }]);
      }));

    it('a bad delta is refused whole: nothing of it is written', () =>
      withStorage((open) => {
        const s = open();
        expect(() =>
          s.persist({
            promised: { round: 9, replicaId: 9 },
            entries: [
              { slot: 1, ballot: { round: 9, replicaId: 9 }, command: put('a') },
              { slot: 0, ballot: { round: 9, replicaId: 9 }, command: put('bad') },
            ],
          }),
        ).toThrow(/bad slot/);
        const d = open().loadDurable();
        expect(d.promised).toEqual({ round: 0, replicaId: 0 });
        expect([...d.entries]).toEqual([]);
      }));

    it('commands of every kind survive the round trip unchanged', () =>
      withStorage((open) => {
        const commands: Command[] = [
          { kind: 'noop' },
          { kind: 'put', id: 'p', key: 'ключ/🔑', value: 'line1\nline2 "quoted"', ifRevision: 0, idempotencyKey: 'ik' },
          { kind: 'delete', id: 'd', key: 'k' },
          { kind: 'opaque', id: 'o', data: '' },
        ];
        open().persist({ entries: commands.map((command, i) => ({ slot: i + 1, ballot: { round: 1, replicaId: 1 }, command })) });
        expect([...open().loadDurable().entries].map((e) => e.command)).toEqual(commands);
      }));

    it('a persist of any number of entries stores each once, in slot order, and a later one replaces them', () =>
      withStorage((open) => {
        // Batches of every size from 0 to 40, back to back (SQLite writes several rows a statement).
        let next = 1;
        const expected: { slot: number; ballot: { round: number; replicaId: number }; command: Command }[] = [];
        for (let size = 0; size <= 40; size++) {
          const batch = Array.from({ length: size }, () => {
            const slot = next++;
            return { slot, ballot: { round: 1 + (slot % 3), replicaId: 1 + (slot % 2) }, command: put(`v${slot}`) };
          });
          open().persist({ entries: batch });
          expected.push(...batch);
        }
        expect([...open().loadDurable().entries]).toEqual(expected);
        // A batch that overwrites slots already stored (a new leader's accepts) replaces exactly those.
        const again = expected.slice(5, 5 + 27).map((e) => ({ ...e, ballot: { round: 9, replicaId: 3 }, command: put(`w${e.slot}`) }));
        open().persist({ entries: again });
        expect([...open().loadDurable().entries]).toEqual([...expected.slice(0, 5), ...again, ...expected.slice(5 + 27)]);
      }));

    it('compaction drops entries through its slot and the snapshot and prefix survive a reopen', () =>
      withStorage((open) => {
        const s = open();
        const b = { round: 1, replicaId: 1 };
        s.persist({ entries: [1, 2, 3, 4].map((slot) => ({ slot, ballot: b, command: put(`c${slot}`) })), decidedThrough: 4 });
        s.persist({ entries: [], compactThrough: 2, snapshot: { slot: 3, data: '{"state":3}' } });
        const d = open().loadDurable();
        expect([...d.entries].map((e) => e.slot)).toEqual([3, 4]);
        expect(d.compactedThrough).toBe(2);
        expect(d.snapshot).toEqual({ slot: 3, data: '{"state":3}' });
        expect(d.decidedThrough).toBe(4);
      }));

    it('a snapshot larger than one stored value (3 MB) comes back whole', () =>
      withStorage((open) => {
        const data = 'x'.repeat(3 * 1024 * 1024 - 7) + 'the-end';
        open().persist({ entries: [], snapshot: { slot: 9, data } });
        const back = open().loadDurable().snapshot;
        expect(back?.slot).toBe(9);
        expect(back?.data.length).toBe(data.length);
        expect(back?.data.endsWith('the-end')).toBe(true);
        open().persist({ entries: [], snapshot: { slot: 10, data: 'small' } });
        expect(open().loadDurable().snapshot).toEqual({ slot: 10, data: 'small' });
      }));

    it('a configuration change stored with a compaction, the epoch and fencing survive a reopen', () =>
      withStorage((open) => {
        const configuration = { members: [{ id: 1, role: 'electable' as const, priority: 2, weight: 1, group: 0, region: 'weur' }], policy: { requireRegions: ['weur'] } };
        open().persist({ entries: [{ slot: 1, ballot: { round: 1, replicaId: 1 }, command: { kind: 'config', id: 'c1', configuration } }], decidedThrough: 1 });
        expect([...open().loadDurable().entries][0]?.command).toEqual({ kind: 'config', id: 'c1', configuration });
        open().persist({ entries: [], compactThrough: 1, baseConfig: { slot: 1, configuration }, epoch: 2, fenced: true });
        const d = open().loadDurable();
        expect(d.baseConfig).toEqual({ slot: 1, configuration });
        expect(d.epoch).toBe(2);
        expect(d.fenced).toBe(true);
      }));

    it('the quiet record (whom a replica followed when it went quiet) survives a reopen, and clearing forgets it', () =>
      withStorage((open) => {
        expect(open().loadDurable().quiet ?? null).toBeNull();
        open().persist({ entries: [], quiet: { leaderId: 2, ballot: { round: 3, replicaId: 2 }, epoch: 1 } });
        expect(open().loadDurable().quiet).toEqual({ leaderId: 2, ballot: { round: 3, replicaId: 2 }, epoch: 1 });
        open().persist({ entries: [{ slot: 1, ballot: { round: 3, replicaId: 2 }, command: put('x') }] });
        expect(open().loadDurable().quiet).toEqual({ leaderId: 2, ballot: { round: 3, replicaId: 2 }, epoch: 1 }); // kept until the next quiet
        open().clear();
        expect(open().loadDurable().quiet ?? null).toBeNull();
      }));

    it('the reserved read nonces survive a reopen and absent fields keep them', () =>
      withStorage((open) => {
        expect(open().loadDurable().readSeqReserved ?? 0).toBe(0);
        open().persist({ entries: [], readSeqReserved: 65_536 });
        open().persist({ entries: [], decidedThrough: 0 });
        expect(open().loadDurable().readSeqReserved).toBe(65_536);
      }));

    it('clearing (a rebuild) forgets the durable state and metadata but keeps the identity', () =>
      withStorage((open) => {
        const s = open();
        s.writeMeta('identity', '{"stream":"s","replicaId":1}');
        s.writeMeta('run-mode', 'manual');
        s.persist({ promised: { round: 4, replicaId: 2 }, entries: [{ slot: 1, ballot: { round: 4, replicaId: 2 }, command: put('x') }], decidedThrough: 1, epoch: 1, fenced: true });
        s.persist({ entries: [], snapshot: { slot: 1, data: 'snap' }, compactThrough: 1 });
        open().clear();
        const d = open().loadDurable();
        expect(d.promised).toEqual({ round: 0, replicaId: 0 });
        expect(d.decidedThrough).toBe(0);
        expect([...d.entries]).toEqual([]);
        expect(d.compactedThrough ?? 0).toBe(0);
        expect(d.snapshot ?? null).toBeNull();
        expect(d.epoch ?? 0).toBe(0);
        expect(d.fenced ?? false).toBe(false);
        expect(open().readMeta('run-mode')).toBeUndefined();
        expect(open().readMeta('identity')).toBe('{"stream":"s","replicaId":1}');
      }));

    it('host metadata survives a reopen', () =>
      withStorage((open) => {
        expect(open().readMeta('identity')).toBeUndefined();
        open().writeMeta('identity', '{"stream":"s","replicaId":1}');
        expect(open().readMeta('identity')).toBe('{"stream":"s","replicaId":1}');
      }));
  });
}
