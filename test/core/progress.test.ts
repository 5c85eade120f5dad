import { describe, expect, it } from 'vitest';
import { ProgressTracker, freshProgress, knownThrough } from '../../src/core/index.ts';

// Progress tracking: what a leader knows of each acceptor, and the one rule
// for "live" every leader decision uses.

const ELECTION = 10;

function tracker(now = 0): ProgressTracker {
  const t = new ProgressTracker(ELECTION);
  t.reset([2, 3], () => 1, now);
  return t;
}

describe('progress tracking', () => {
  it('an acceptor is live while it answered within an election timeout, and a fresh one counts as having just answered', () => {
    const t = tracker(100);
    const pr = t.get(2)!;
    expect(t.isLive(pr, 100 + ELECTION - 1)).toBe(true);
    expect(t.isLive(pr, 100 + ELECTION)).toBe(false);
    t.recordReply(pr, 0, 105);
    expect(t.isLive(pr, 105 + ELECTION - 1)).toBe(true);
    expect([...t.liveSet(1, 100 + ELECTION)]).toEqual([1, 2]);
  });

  it('knows an acceptor holds everything through its decided prefix or what it acknowledged at our ballot, whichever is higher', () => {
    const pr = freshProgress(1, 0);
    pr.decidedThrough = 4;
    pr.ackedThrough = 9;
    expect(knownThrough(pr)).toBe(9);
    const t = tracker();
    t.recordReply(t.get(2)!, 12, 1);
    expect(t.get(2)!.ackedThrough).toBe(12); // a reported decided prefix also counts as acknowledged
    expect(t.caughtUp(2, 12, 1)).toBe(true);
    expect(t.caughtUp(2, 13, 1)).toBe(false);
    expect(t.caughtUp(2, 12, 1 + ELECTION)).toBe(false); // caught up, but silent for an election timeout
    expect(t.caughtUp(7, 0, 1)).toBe(false); // unknown
  });

  it('check-quorum counts who answered since the last check, then starts a new window', () => {
    const t = tracker();
    t.recordReply(t.get(3)!, 0, 1);
    expect([...t.takeRecentlyActive(1)]).toEqual([1, 3]);
    expect([...t.takeRecentlyActive(1)]).toEqual([1]);
    t.markAllActive(5);
    expect([...t.takeRecentlyActive(1)]).toEqual([1, 2, 3]);
  });

  it('follows the configurations: drops acceptors no longer in them, starts afresh on new and rebuilt ones, keeps the rest', () => {
    const t = tracker();
    t.get(2)!.decidedThrough = 7;
    t.get(3)!.decidedThrough = 7;
    t.sync([2, 3, 4], (id) => (id === 3 ? 2 : 1), 20);
    expect(t.get(2)!.decidedThrough).toBe(7);
    expect(t.get(3)).toMatchObject({ incarnation: 2, decidedThrough: 0, lastReplyTick: 20 });
    expect(t.get(4)).toMatchObject({ incarnation: 1, decidedThrough: 0 });
    t.sync([4], () => 1, 21);
    expect([...t].map(([id]) => id)).toEqual([4]);
  });

  it('names who echoed a read nonce', () => {
    const t = tracker();
    t.get(2)!.readSeqAcked = 5;
    t.get(3)!.readSeqAcked = 3;
    expect([...t.echoed(1, 4)]).toEqual([1, 2]);
  });
});
