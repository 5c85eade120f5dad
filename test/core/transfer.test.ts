import { describe, expect, it } from 'vitest';
import { type Member, LeadershipTransfer, failBackTarget, stepDownTarget, transferRefusal } from '../../src/core/index.ts';

// Leadership transfer and fail-back: whom a leader hands over to, and a
// hand-over's lifetime.

const m = (id: number, priority: number, role: Member['role'] = 'electable'): Member => ({ id, role, priority, weight: 1, group: 0 });
const MEMBERS = [m(1, 1), m(2, 3), m(3, 2), m(4, 5, 'logger'), m(5, 9, 'passive')];
const ON = { enabled: true, suppressed: false };

describe('fail-back', () => {
  it('hands leadership to the caught-up, reachable electable replica of highest priority above the leader', () => {
    expect(failBackTarget(ON, MEMBERS, 1, 1, () => true)).toBe(2);
    expect(failBackTarget(ON, MEMBERS, 1, 1, (id) => id !== 2)).toBe(3);
    expect(failBackTarget(ON, MEMBERS, 2, 3, () => true)).toBeNull(); // nobody electable ranks above it
  });

  it('stays off when priorities or fail-back are off, or after an operator chose the leader', () => {
    expect(failBackTarget({ enabled: false, suppressed: false }, MEMBERS, 1, 1, () => true)).toBeNull();
    expect(failBackTarget({ enabled: true, suppressed: true }, MEMBERS, 1, 1, () => true)).toBeNull();
  });
});

describe('step-down and switchover', () => {
  it('steps down to the live electable replica of highest priority, whatever the leader’s own priority', () => {
    expect(stepDownTarget(MEMBERS, 2, () => true)).toBe(3);
    expect(stepDownTarget(MEMBERS, 2, (id) => id === 1)).toBe(1);
    expect(stepDownTarget(MEMBERS, 2, () => false)).toBeNull();
  });

  it('refuses a switchover to a replica that is not a member, already leads, or can never lead', () => {
    expect(transferRefusal(9, undefined, 1)).toBe('replica 9 is not a member of this stream');
    expect(transferRefusal(1, MEMBERS[0], 1)).toBe('replica 1 already leads');
    expect(transferRefusal(4, MEMBERS[3], 1)).toBe('replica 4 is a logger and can never lead');
    expect(transferRefusal(2, MEMBERS[1], 1)).toBeNull();
  });

  it('a hand-over lasts until it is cleared or its timeout passes', () => {
    const t = new LeadershipTransfer();
    t.start(2, true, 20, 100);
    expect(t.inProgress).toMatchObject({ target: 2, manual: true, sent: false });
    expect(t.expire(119)).toBe(false);
    expect(t.expire(120)).toBe(true);
    expect(t.inProgress).toBeNull();
  });
});
