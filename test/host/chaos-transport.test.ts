import { describe, expect, it } from 'vitest';
import { type Message, SeededRng } from '../../src/core/index.ts';
import { ChaosTransport, type Transport } from '../../src/host/chaos-transport.ts';

// The chaos endpoints' faults as a wrapper around the real transport: seeded,
// so a fault pattern is reproducible from the seed.

const hb = (to: number): Message => ({ type: 'heartbeat', from: 1, to, ballot: { round: 1, replicaId: 1 }, decidedThrough: 0, readSeq: 0 });

function recording(): Transport & { calls: number[] } {
  const calls: number[] = [];
  return {
    calls,
    send: (to, messages) => {
      calls.push(to);
      return Promise.resolve(messages.map((m) => ({ ...m, from: to, to: 1 })));
    },
  };
}

describe('chaos transport', () => {
  it('passes batches through untouched when no fault is injected', async () => {
    const inner = recording();
    const t = new ChaosTransport(inner, 1, new SeededRng(1), { partition: null, unreliable: null });
    expect(await t.send(2, [hb(2)])).toHaveLength(1);
    expect(inner.calls).toEqual([2]);
  });

  it('sends nothing across a cut link, either way, and heals', async () => {
    const inner = recording();
    const t = new ChaosTransport(inner, 1, new SeededRng(1), { partition: [[1], [2, 3]], unreliable: null });
    expect(await t.send(2, [hb(2)])).toEqual([]);
    expect(t.isCut(3)).toBe(true);
    expect(inner.calls).toEqual([]);
    t.setPartition(null);
    expect(t.isCut(3)).toBe(false);
    expect(await t.send(3, [hb(3)])).toHaveLength(1);
  });

  it('keeps links to replicas that no partition group names', () => {
    const t = new ChaosTransport(recording(), 1, new SeededRng(1), { partition: [[1], [2]], unreliable: null });
    expect(t.isCut(3)).toBe(false);
  });

  it('duplicates batches as the seed says: the same seed gives the same pattern, and both copies answer', async () => {
    const pattern = async (seed: number): Promise<number[]> => {
      const inner = recording();
      const t = new ChaosTransport(inner, 1, new SeededRng(seed), { partition: null, unreliable: { duplicateRate: 0.5, delayMsMax: 0 } });
      const replies: number[] = [];
      for (let i = 0; i < 40; i++) replies.push((await t.send(2, [hb(2)])).length);
      expect(inner.calls.length).toBe(replies.reduce((a, b) => a + b, 0)); // every copy sent is answered
      return replies;
    };
    const a = await pattern(7);
    expect(await pattern(7)).toEqual(a);
    expect(a).toContain(2);
    expect(a).toContain(1);
    expect(await pattern(8)).not.toEqual(a);
  });
});
