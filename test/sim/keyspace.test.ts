import { describe, expect, it } from 'vitest';
import { runMutant } from '../../sim/mutate.ts';
import { KEYSPACE_MUTANTS } from '../../sim/mutants.ts';
import { type KeyspaceInput, type KeyspaceOutput, keyspaceModel } from '../../sim/checker/keyspace-model.ts';
import { type Operation, checkLinearizability } from '../../sim/checker/linearizability.ts';
import { keyspaceOptions, runKeyspaceSim } from '../../sim/keyspace-sim.ts';

type Op = Operation<KeyspaceInput, KeyspaceOutput>;
const op = (clientId: number, input: KeyspaceInput, call: number, ret: number, output: KeyspaceOutput | undefined): Op => ({ clientId, input, call, return: ret, output });
const move: KeyspaceInput = { kind: 'txn', compare: [], success: [{ put: { key: 'a', value: '1' } }, { put: { key: 'b', value: '1' } }], failure: [] };

describe('checker: a keyspace history is checked as one object', () => {
  it('accepts a cross-shard transaction seen whole, and refuses a reader that saw half of it', () => {
    const whole = [op(0, move, 1, 2, { kind: 'txn', succeeded: true, gets: [] }), op(1, { kind: 'get', key: 'a' }, 3, 4, { kind: 'get', value: '1' }), op(1, { kind: 'get', key: 'b' }, 5, 6, { kind: 'get', value: '1' })];
    expect(checkLinearizability(keyspaceModel, whole).ok).toBe(true);
    const half = [op(0, move, 1, 2, { kind: 'txn', succeeded: true, gets: [] }), op(1, { kind: 'get', key: 'a' }, 3, 4, { kind: 'get', value: '1' }), op(1, { kind: 'get', key: 'b' }, 5, 6, { kind: 'get', value: null })];
    expect(checkLinearizability(keyspaceModel, half)).toMatchObject({ ok: false, reason: 'not-linearizable' });
    // A read-only transaction over both keys during an unknown-outcome one sees both or neither.
    const both = { kind: 'txn', compare: [], success: [{ get: { key: 'a' } }, { get: { key: 'b' } }], failure: [] } as const;
    expect(checkLinearizability(keyspaceModel, [op(0, move, 1, Infinity, undefined), op(1, both, 2, 3, { kind: 'txn', succeeded: true, gets: ['1', '1'] })]).ok).toBe(true);
    expect(checkLinearizability(keyspaceModel, [op(0, move, 1, Infinity, undefined), op(1, both, 2, 3, { kind: 'txn', succeeded: true, gets: ['1', null] })]).ok).toBe(false);
  });
});

describe('simulation: cross-shard transactions and online grows with Worker and leader crashes', () => {
  // A few seeds here; the long campaign is `npm run sim:keyspace -- --seeds 500` (docs/simulation.md).
  it('keeps every history linearizable, leaves no intent behind and finishes every grow, over random campaigns', async () => {
    let crashes = 0;
    let settled = 0;
    let moved = 0;
    let growCrashes = 0;
    let handoffsRefused = 0;
    for (let seed = 1; seed <= 12; seed++) {
      const r = await runKeyspaceSim(keyspaceOptions(seed));
      expect(r.ok, `${r.check}: ${r.message}\nreproduce: ${r.reproduce}`).toBe(true);
      expect(r.inconclusive, `seed ${seed}: the check ran out of budget`).toBeFalsy();
      expect(r.crossShardTxns).toBeGreaterThan(0);
      crashes += r.workerCrashes;
      settled += r.settled;
      moved += r.movedKeys;
      growCrashes += r.growCrashes;
      handoffsRefused += r.handoffsRefused;
    }
    // Grows ran under that traffic: keys moved, grow drivers died mid-grow (and were resumed), hand-offs met intents.
    expect(moved).toBeGreaterThan(0);
    expect(growCrashes).toBeGreaterThan(0);
    expect(handoffsRefused).toBeGreaterThan(0);
    // The campaign did meet what it is about: coordinators that died mid-protocol, and intents settled by others.
    expect(crashes).toBeGreaterThan(0);
    expect(settled).toBeGreaterThan(0);
  });

  for (const m of KEYSPACE_MUTANTS) {
    it(`the keyspace campaign catches ${m.name} in a copy of the source`, async () => {
      // Its own budget (the campaign stops at the first failure, so a bug caught early costs only those seeds).
      const seeds = m.seeds ?? 20;
      const r = await runMutant(m, seeds);
      expect(r.caught, `${m.name} survived ${seeds} seeds`).toBe(true);
    });
  }
});
