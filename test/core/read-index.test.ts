import { describe, expect, it } from 'vitest';
import { READ_SEQ_BLOCK, ReadIndex } from '../../src/core/index.ts';

// Read-index: a read is served only once a quorum confirmed, with answers to
// a heartbeat broadcast sent after it was asked, that the leader still leads.

const majorityOf3 = (acks: ReadonlySet<number>): boolean => acks.size >= 2;

describe('read-index', () => {
  it('waits for the opening slot, then for a broadcast after the read, then for a quorum echoing it', () => {
    const r = new ReadIndex(0);
    expect(r.request('a', 3, 5)).toBe(false); // the leader has not decided its opening no-op yet
    expect(r.takeBroadcast()).toBe(false);
    expect(r.openingDecided(5)).toBe(true);
    expect(r.takeBroadcast()).toBe(true);
    expect(r.seq).toBe(1);
    const echoed = new Map<number, Set<number>>([[1, new Set([1])]]);
    r.confirm((seq) => echoed.get(seq) ?? new Set([1]), majorityOf3);
    expect(r.takeConfirmed()).toEqual([]); // only the leader itself so far
    echoed.set(1, new Set([1, 3]));
    r.confirm((seq) => echoed.get(seq) ?? new Set([1]), majorityOf3);
    expect(r.takeConfirmed()).toEqual([{ readId: 'a', decidedThrough: 5 }]);
  });

  it('never lets answers to an earlier broadcast confirm a later read', () => {
    const r = new ReadIndex(0);
    r.request('a', 5, 1);
    r.takeBroadcast(); // seq 1
    r.request('b', 6, 1); // needs seq 2
    const echoedThrough = 1; // a quorum answered seq 1 only
    r.confirm((seq) => (seq <= echoedThrough ? new Set([1, 2]) : new Set([1])), majorityOf3);
    expect(r.takeConfirmed().map((s) => s.readId)).toEqual(['a']);
    expect(r.takeBroadcast()).toBe(true);
    expect(r.seq).toBe(2);
  });

  it('reserves nonces durably a block at a time, and a new life starts above every nonce reserved before', () => {
    const r = new ReadIndex(0);
    r.request('a', 1, 1);
    r.takeBroadcast();
    expect(r.takeReservation()).toBe(READ_SEQ_BLOCK);
    expect(r.takeReservation()).toBeUndefined();
    const next = new ReadIndex(READ_SEQ_BLOCK);
    next.request('b', 1, 1);
    next.takeBroadcast();
    expect(next.seq).toBe(READ_SEQ_BLOCK + 1);
    expect(next.takeReservation()).toBe(2 * READ_SEQ_BLOCK);
  });

  it('drops every read not confirmed when leadership ends, waiting ones first', () => {
    const r = new ReadIndex(0);
    r.request('pending', 4, 1);
    r.request('waiting', 0, 1);
    expect(r.inFlight).toBe(true);
    expect(r.abandon()).toEqual(['waiting', 'pending']);
    expect(r.inFlight).toBe(false);
  });
});
