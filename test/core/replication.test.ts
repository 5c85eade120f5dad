import { describe, expect, it } from 'vitest';
import {
  type Ballot,
  type ClientCommand,
  type Entry,
  type Message,
  type NearestQuorum,
  AcceptorLog,
  EMPTY_DURABLE_STATE,
  Replication,
  freshProgress,
  provenDecidedThrough,
  storeAcceptedRun,
} from '../../src/core/index.ts';

// Replication (phase 2) on its own: accept rounds, acknowledgements,
// retransmission and catch-up, against a hand-made context.

const BALLOT: Ballot = { round: 3, replicaId: 1 };
const TIMING = { heartbeatIntervalTicks: 2, electionTimeoutTicks: 10, inflightMax: 2, batchMax: 3, retransmitTicks: 4, catchupBatchMax: 2 };
const put = (id: string): ClientCommand => ({ kind: 'put', id, key: 'k', value: id });

function setup(opts: { passive?: number[]; durable?: Entry[]; decided?: number; nearest?: NearestQuorum } = {}) {
  const log = new AcceptorLog({ ...EMPTY_DURABLE_STATE, entries: opts.durable ?? [], decidedThrough: opts.decided ?? 0 });
  const sent: Message[] = [];
  const snapshots: number[] = [];
  let now = 0;
  const r = new Replication(
    {
      id: 1,
      log,
      timing: TIMING,
      now: () => now,
      ballot: () => BALLOT,
      peers: () => [2, 3, 4],
      // The leader's own acknowledgement is counted by the replica (once durable); here 2 of the 3 others decide.
      isDecisionQuorum: (_slot, acks) => acks.size >= 2,
      isPassive: (id) => (opts.passive ?? []).includes(id),
      writeEntry: (e) => log.set(e),
      send: (m) => sent.push(m),
      sendSnapshot: (to) => snapshots.push(to),
      snapshotAfter: () => false,
      nearestQuorum: () => opts.nearest ?? null,
    },
    { inflightMax: TIMING.inflightMax, batchMax: TIMING.batchMax, batchMin: 1 },
  );
  return { r, log, sent, snapshots, tick: (n = 1) => (now += n), drain: () => sent.splice(0) };
}

const summary = (ms: Message[]): string[] => ms.map((m) => (m.type === 'accept' ? `accept ${m.firstSlot}+${m.commands.length}->${m.to}` : `${m.type}->${m.to}`));

describe('replication', () => {
  it('sends queued proposals as accept rounds of at most batchMax, with at most inflightMax rounds in flight', () => {
    const { r, drain } = setup();
    r.begin();
    r.reserveThrough(0);
    for (let i = 1; i <= 8; i++) r.queue(put(`c${i}`));
    r.flush(false);
    expect(summary(drain())).toEqual(['accept 1+3->2', 'accept 1+3->3', 'accept 1+3->4', 'accept 4+3->2', 'accept 4+3->3', 'accept 4+3->4']);
    expect(r.inflight).toBe(2);
    expect(r.queued).toBe(2);
    expect(r.nextSlot).toBe(7);
  });

  it('holds every write while a hand-over pauses it', () => {
    const { r, drain } = setup();
    r.begin();
    r.reserveThrough(0);
    r.queue(put('a'));
    r.flush(true);
    expect(drain()).toEqual([]);
    expect(r.queued).toBe(1);
  });

  it('decides a slot once a quorum acknowledged it, and moves the decided prefix only over contiguous decided slots', () => {
    const { r } = setup();
    r.begin();
    r.reserveThrough(0);
    for (const c of ['a', 'b', 'c']) r.queue(put(c));
    r.flush(false);
    r.ack(2, 2);
    r.ack(2, 3);
    expect(r.takeDecidedPrefix(0)).toBe(0); // slot 2 is decided, slot 1 is not yet
    r.ack(1, 3);
    r.ack(1, 4);
    expect(r.takeDecidedPrefix(0)).toBe(2);
    expect(r.undecided).toBe(1);
  });

  it('retransmits an unacknowledged accept only to those that did not acknowledge it', () => {
    const { r, tick, drain } = setup();
    r.begin();
    r.reserveThrough(0);
    r.queue(put('a'));
    r.flush(false);
    drain();
    r.ack(1, 2);
    tick(TIMING.retransmitTicks - 1);
    r.retransmit();
    expect(drain()).toEqual([]);
    tick(1);
    r.retransmit();
    expect(summary(drain())).toEqual(['accept 1+1->3', 'accept 1+1->4']);
  });

  it('catches a lagging acceptor up from the decided log, inflightMax messages of catchupBatchMax at a time, or sends a snapshot past the compacted prefix', () => {
    const entries = Array.from({ length: 9 }, (_, i): Entry => ({ slot: i + 1, ballot: BALLOT, command: put(`e${i + 1}`) }));
    const { r, log, drain, snapshots } = setup({ durable: entries, decided: 9 });
    r.begin();
    r.reserveThrough(9);
    const pr = freshProgress(1, 0);
    pr.decidedThrough = 2;
    r.catchUp(2, pr);
    expect(summary(drain())).toEqual(['accept 3+2->2', 'accept 5+2->2']);
    r.catchUp(2, pr); // nothing new until those are answered or overdue
    expect(drain()).toEqual([]);
    log.compact(6);
    const behind = freshProgress(1, 0);
    r.catchUp(3, behind);
    expect(snapshots).toEqual([3]);
  });

  it('serves a passive replica after the voters: no accepts while proposals queue behind a full pipeline', () => {
    const { r, drain } = setup({ passive: [4] });
    r.begin();
    r.reserveThrough(0);
    for (let i = 1; i <= 9; i++) r.queue(put(`c${i}`));
    r.flush(false);
    expect(drain().filter((m) => m.to === 4)).toEqual([]);
  });
});

describe('replication: the acceptor side', () => {
  it('stores an accepted run except slots it already knows decided', () => {
    const log = new AcceptorLog({ ...EMPTY_DURABLE_STATE, entries: [{ slot: 1, ballot: BALLOT, command: put('x') }], decidedThrough: 1 });
    const written: number[] = [];
    storeAcceptedRun({ type: 'accept', from: 1, to: 2, ballot: BALLOT, firstSlot: 1, commands: [put('x'), put('y')], decidedThrough: 0 }, log.decidedThrough, (e) => written.push(e.slot));
    expect(written).toEqual([2]);
  });

  it('learns a slot decided only where it holds the leader’s own value, and never past what it holds', () => {
    const other: Ballot = { round: 2, replicaId: 3 };
    const log = new AcceptorLog({
      ...EMPTY_DURABLE_STATE,
      entries: [
        { slot: 1, ballot: BALLOT, command: put('a') },
        { slot: 2, ballot: other, command: put('stale') },
        { slot: 3, ballot: BALLOT, command: put('c') },
      ],
      decidedThrough: 0,
    });
    expect(provenDecidedThrough(log, BALLOT, 3)).toBe(1);
    log.set({ slot: 2, ballot: BALLOT, command: put('b') });
    expect(provenDecidedThrough(log, BALLOT, 9)).toBe(3); // never past what it holds
  });
});
