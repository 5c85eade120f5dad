import { describe, expect, it } from 'vitest';
import { type Member, SeededRng, priorityElectionTicks } from '../../src/core/index.ts';

const member = (id: number, priority: number, role: Member['role'] = 'electable'): Member => ({ id, role, priority, weight: 1, group: 0 });

/** Every value priorityElectionTicks gives over many draws: [min, max]. */
function range(base: number, members: Member[], self: number, leader: number | null): [number, number] {
  const rng = new SeededRng(7);
  let min = Infinity;
  let max = -Infinity;
  for (let i = 0; i < 2000; i++) {
    const t = priorityElectionTicks(base, members, members.find((m) => m.id === self)!, leader, rng);
    min = Math.min(min, t);
    max = Math.max(max, t);
  }
  return [min, max];
}

describe('election timing under priority election', () => {
  const cluster = [member(1, 3), member(2, 2), member(3, 1)];

  it('staggers distinct priorities into disjoint steps half a base apart, highest first', () => {
    expect(range(10, cluster, 1, null)).toEqual([10, 11]);
    expect(range(10, cluster, 2, null)).toEqual([15, 16]);
    expect(range(10, cluster, 3, null)).toEqual([20, 21]);
    expect(range(40, cluster, 2, null)).toEqual([60, 64]);
  });

  it('does not wait for the turn of the silent leader it watches: the next in priority goes first', () => {
    expect(range(10, cluster, 2, 1)).toEqual([10, 11]);
    expect(range(10, cluster, 3, 1)).toEqual([15, 16]);
    expect(range(10, cluster, 3, 2)).toEqual([15, 16]); // replica 1 still outranks it
  });

  it('takes turns among equal priorities, by id from the one after the silent leader', () => {
    const equal = [member(1, 0), member(2, 0), member(3, 0)];
    expect(range(10, equal, 2, 1)).toEqual([10, 11]);
    expect(range(10, equal, 3, 1)).toEqual([15, 16]);
    expect(range(10, equal, 3, 2)).toEqual([10, 11]); // the round wraps: after 2 comes 3, then 1
    expect(range(10, equal, 1, 2)).toEqual([15, 16]);
    expect(range(10, equal, 1, null)).toEqual([10, 11]); // no leader known: lowest id first
    expect(range(10, equal, 3, null)).toEqual([20, 21]);
    const pair = [member(1, 3), member(2, 2), member(3, 2)];
    expect(range(10, pair, 3, 1)).toEqual([15, 16]);
    expect(range(10, pair, 2, 1)).toEqual([10, 11]);
    expect(range(10, pair, 3, null)).toEqual([20, 21]);
  });

  it('counts only replicas that can lead', () => {
    const roles = [member(1, 9, 'logger'), member(2, 9, 'passive'), member(3, 1), member(4, 2)];
    expect(range(10, roles, 4, null)).toEqual([10, 11]);
    expect(range(10, roles, 3, null)).toEqual([15, 16]);
  });
});
