import { describe, expect, it } from 'vitest';
import { SeededRng } from '../../src/core/index.ts';
import { formatFailure } from './campaign-helpers.ts';
import { SimCluster } from '../../sim/cluster.ts';
import { runSimulation } from '../../sim/simulation.ts';

// Back-pressure (ReadyRunner.pendingMax; a stream's `queue_max` in the
// Worker): a replica that already holds that many requests waiting refuses
// the next one as `overloaded` and never proposes it.

describe('cluster: back-pressure', () => {
  it('cluster: back-pressure: a leader holding its limit of waiting requests refuses the next one, and the refused write is never applied', () => {
    const c = new SimCluster({ replicas: 3, rng: new SeededRng(7), pendingMax: 1 });
    c.runUntil(() => c.leaderId() !== null, 200, 'a leader');
    const leader = c.leaderId()!;
    const outcomes: string[] = [];
    const first = c.propose(leader, { kind: 'put', id: 'a.1', key: 'a', value: '1', idempotencyKey: 'a' }, (o) => outcomes.push(`a:${o.kind}`));
    const second = c.propose(leader, { kind: 'put', id: 'b.1', key: 'b', value: '2', idempotencyKey: 'b' }, (o) => outcomes.push(`b:${o.kind}`));
    expect(first).toEqual({ ok: true });
    expect(second).toEqual({ ok: false, reason: 'overloaded' });
    c.runUntil(() => outcomes.length > 0, 200, 'the first write applied');
    expect(outcomes).toEqual(['a:applied']);
    c.runTicks(50);
    for (const id of c.memberIds()) {
      expect(c.replica(id).sm.get('a')?.value).toBe('1');
      expect(c.replica(id).sm.get('b')).toBeUndefined();
    }
    // Once the first has its outcome, there is room again.
    expect(c.propose(leader, { kind: 'put', id: 'b.2', key: 'b', value: '2', idempotencyKey: 'b' }, () => {})).toEqual({ ok: true });
  });

  it('cluster: back-pressure: campaign: a limit of one or two waiting requests, with every other fault, stays safe, linearizable and live (30 seeds)', () => {
    let overloaded = 0;
    let dropped = 0;
    for (let seed = 1; seed <= 30; seed++) {
      const r = runSimulation({ seed, operations: 300, pendingMax: 1 + (seed % 2) });
      if (!r.ok) expect.fail(formatFailure(r));
      overloaded += r.stats.overloaded;
      dropped += r.stats.dropped;
    }
    // The refusal path ran, and clients dropped refused operations (which the checker then must never see applied).
    expect(overloaded).toBeGreaterThan(100);
    expect(dropped).toBeGreaterThan(5);
  });
});
