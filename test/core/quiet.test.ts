import { describe, expect, it } from 'vitest';
import { type QuietCheck, type RestoreState, Quiet, mayGoQuiet, quietRestore } from '../../src/core/index.ts';

// Going quiet and quiet restore as pure decisions.

const IDLE: QuietCheck = { quietAfterTicks: 20, ticksSinceRequest: 20, busy: false, allDecided: true, failBackDue: () => false, everyoneCaughtUp: () => true };

describe('quiescence', () => {
  it('an idle leader goes quiet only after the quiet period, with nothing in flight and everyone caught up', () => {
    expect(mayGoQuiet(IDLE)).toBe(true);
    expect(mayGoQuiet({ ...IDLE, quietAfterTicks: 0 })).toBe(false); // never
    expect(mayGoQuiet({ ...IDLE, ticksSinceRequest: 19 })).toBe(false);
    expect(mayGoQuiet({ ...IDLE, busy: true })).toBe(false);
    expect(mayGoQuiet({ ...IDLE, allDecided: false })).toBe(false);
    expect(mayGoQuiet({ ...IDLE, everyoneCaughtUp: () => false })).toBe(false);
  });

  it('hands over before going quiet when fail-back is due (the better leader should be the quiet one)', () => {
    expect(mayGoQuiet({ ...IDLE, failBackDue: () => true })).toBe(false);
  });

  it('counts idle heartbeats until a request, and stores one record per quiet period', () => {
    const q = new Quiet();
    q.noteHeartbeatWithoutRequest();
    q.noteHeartbeatWithoutRequest();
    expect(q.ticksSinceRequest(5)).toBe(10);
    q.noteActivity();
    expect(q.ticksSinceRequest(5)).toBe(0);
    q.goQuiet({ leaderId: 1, ballot: { round: 2, replicaId: 1 }, epoch: 0 });
    expect(q.isQuiet).toBe(true);
    expect(q.takeRecordToPersist()).toEqual({ leaderId: 1, ballot: { round: 2, replicaId: 1 }, epoch: 0 });
    expect(q.hasRecordToPersist).toBe(false);
  });
});

describe('quiet restore', () => {
  const ballot = { round: 4, replicaId: 1 };
  const state: RestoreState = { id: 1, fenced: false, member: true, electable: true, epoch: 0, promised: ballot, decidedThrough: 9, lastSlot: 9 };

  it('a leader leads again at its ballot, a follower follows its leader', () => {
    expect(quietRestore({ leaderId: 1, ballot, epoch: 0 }, state)).toEqual({ kind: 'lead', ballot });
    expect(quietRestore({ leaderId: 1, ballot, epoch: 0 }, { ...state, id: 2 })).toEqual({ kind: 'follow', leaderId: 1 });
  });

  it('refuses, saying why, when anything since could make it wrong', () => {
    const q = { leaderId: 1, ballot, epoch: 0 };
    expect(quietRestore(q, { ...state, promised: { round: 5, replicaId: 3 } })).toEqual({ kind: 'refused', why: 'went quiet at 4.1, has promised 5.3 since' });
    expect(quietRestore(q, { ...state, epoch: 1 })).toEqual({ kind: 'refused', why: 'went quiet in epoch 0, now in 1' });
    expect(quietRestore(q, { ...state, lastSlot: 11 })).toEqual({ kind: 'refused', why: 'slots 10..11 are not decided' });
    expect(quietRestore(q, { ...state, fenced: true }).kind).toBe('refused');
    expect(quietRestore(q, { ...state, member: false }).kind).toBe('refused');
    expect(quietRestore(q, { ...state, electable: false }).kind).toBe('refused');
    expect(quietRestore({ leaderId: 1, ballot: { round: 4, replicaId: 2 }, epoch: 0 }, { ...state, promised: { round: 4, replicaId: 2 } }).kind).toBe('refused');
  });
});
