import { describe, expect, it } from 'vitest';
import {
  type Ballot,
  type ClientCommand,
  type Message,
  type Ready,
  AcceptorLog,
  DEFAULT_THRIFTY,
  EMPTY_DURABLE_STATE,
  Replica,
  Replication,
  SeededRng,
  Thrifty,
  compileConfiguration,
  electableMember,
  majorityConfiguration,
} from '../../src/core/index.ts';

// Thrifty replication: the nearest quorum a leader picks from the round trips
// it measures, the hedge of a late batch, and the trailing followers caught
// up with the heartbeats. The simulator runs it in its campaigns (with the
// nearest follower crashing, cut off and slowed); the bench measures it.

const majorityOf = (ids: number[]) => {
  const q = compileConfiguration(majorityConfiguration(ids)).quorum;
  return (followers: ReadonlySet<number>): boolean => q.isPhase2Quorum(new Set([1, ...followers]));
};

/** Round trips of `ticks` to each follower, measured once. */
function measured(rtts: Record<number, number>): Thrifty {
  const t = new Thrifty();
  for (const [id, ticks] of Object.entries(rtts)) {
    t.sent(Number(id), 100);
    t.answered(Number(id), 100, 100 + ticks, 1000);
  }
  return t;
}

describe('thrifty: the nearest quorum', () => {
  it('picks the fewest fastest followers that make a quorum with the leader, and hedges after twice the slowest of them', () => {
    const t = measured({ 2: 9, 3: 4, 4: 1, 5: 7 });
    const q = t.pick([2, 3, 4, 5], new Set(), majorityOf([1, 2, 3, 4, 5]), 200, 50);
    expect(q).toEqual({ to: [3, 4], hedgeAfterTicks: 8 });
    expect(t.nearest).toEqual([3, 4]);
  });

  it('never hedges sooner than hedgeMinTicks, and waits the fallback while a picked follower was never measured', () => {
    expect(measured({ 2: 0, 3: 0 }).pick([2, 3], new Set(), majorityOf([1, 2, 3]), 200, 50)?.hedgeAfterTicks).toBe(DEFAULT_THRIFTY.hedgeMinTicks);
    expect(new Thrifty().pick([2, 3], new Set(), majorityOf([1, 2, 3]), 0, 50)).toEqual({ to: [2], hedgeAfterTicks: 50 });
  });

  it('keeps its pick against a follower only slightly faster, and gives it up to one clearly faster', () => {
    const t = measured({ 2: 10, 3: 12 });
    expect(t.pick([2, 3], new Set(), majorityOf([1, 2, 3]), 200, 50)?.to).toEqual([2]);
    for (let i = 0; i < 20; i++) {
      t.sent(3, 300 + i * 20);
      t.answered(3, 300 + i * 20, 300 + i * 20 + 9, 1000); // 3 now answers in 9 ticks: faster, but not by a quarter
    }
    expect(t.pick([2, 3], new Set(), majorityOf([1, 2, 3]), 800, 50)?.to).toEqual([2]);
    for (let i = 0; i < 20; i++) {
      t.sent(3, 900 + i * 20);
      t.answered(3, 900 + i * 20, 900 + i * 20 + 3, 1000);
    }
    expect(t.pick([2, 3], new Set(), majorityOf([1, 2, 3]), 1400, 50)?.to).toEqual([3]);
  });

  it('stops picking a follower that has not answered for longer than the others take', () => {
    const t = measured({ 2: 1, 3: 5 });
    expect(t.pick([2, 3], new Set(), majorityOf([1, 2, 3]), 200, 50)?.to).toEqual([2]);
    t.sent(2, 200); // 2 crashes: no answer from here on
    t.sent(3, 200);
    t.answered(3, 200, 205, 1000);
    expect(t.pick([2, 3], new Set(), majorityOf([1, 2, 3]), 203, 50)?.to).toEqual([2]); // 3 ticks of silence: still within reason
    expect(t.pick([2, 3], new Set(), majorityOf([1, 2, 3]), 210, 50)?.to).toEqual([3]); // 10 ticks: 3 is nearer now
  });

  it('takes the follower a required group needs and drops one the group made unnecessary', () => {
    // Replicas 1..4, group 1 = {4} required: the leader and 2 alone are a majority of weight but lack group 1.
    const config = {
      members: [1, 2, 3, 4].map((id) => ({ ...electableMember(id), group: id === 4 ? 1 : 0 })),
      policy: { requireGroups: [1] },
    };
    const q = compileConfiguration(config).quorum;
    const t = measured({ 2: 1, 3: 2, 4: 9 });
    const picked = t.pick([2, 3, 4], new Set(), (f) => q.isPhase2Quorum(new Set([1, ...f])), 200, 50);
    expect(picked?.to).toEqual([2, 4]);
  });

  it('adds the extra followers on top of the quorum, and returns null when no set of followers makes one', () => {
    const t = measured({ 2: 1, 3: 5 });
    expect(t.pick([2, 3], new Set([3]), majorityOf([1, 2, 3]), 200, 50)?.to).toEqual([2, 3]);
    expect(t.pick([2], new Set(), majorityOf([1, 2, 3, 4, 5]), 200, 50)).toBeNull();
    expect(t.nearest).toBeNull();
  });

  it('ignores a round-trip sample from before its leadership (a negative or an overlong one)', () => {
    const t = measured({ 2: 4 });
    t.answered(2, 500, 100, 1000);
    t.answered(2, 0, 5000, 1000);
    expect(t.roundTrip(2)).toBe(4);
  });
});

// ------------------------------------------------------------------ replication with a nearest quorum

const BALLOT: Ballot = { round: 3, replicaId: 1 };
const TIMING = { heartbeatIntervalTicks: 2, electionTimeoutTicks: 10, inflightMax: 4, batchMax: 3, retransmitTicks: 8, catchupBatchMax: 2 };
const put = (id: string): ClientCommand => ({ kind: 'put', id, key: 'k', value: id });

function replication() {
  const log = new AcceptorLog(EMPTY_DURABLE_STATE);
  const sent: Message[] = [];
  let now = 0;
  const r = new Replication(
    {
      id: 1,
      log,
      timing: TIMING,
      now: () => now,
      ballot: () => BALLOT,
      peers: () => [2, 3],
      isDecisionQuorum: (_slot, acks) => acks.size >= 2,
      isPassive: () => false,
      writeEntry: (e) => log.set(e),
      send: (m) => sent.push(m),
      sendSnapshot: () => {},
      snapshotAfter: () => false,
      nearestQuorum: () => ({ to: [2], hedgeAfterTicks: 3 }),
    },
    { inflightMax: TIMING.inflightMax, batchMax: TIMING.batchMax, batchMin: 1 },
  );
  r.begin();
  r.reserveThrough(0);
  const to = (): string[] => sent.splice(0).map((m) => (m.type === 'accept' ? `${m.firstSlot}+${m.commands.length}->${m.to}` : m.type));
  return { r, to, tick: (n: number) => (now += n), now: () => now };
}

describe('thrifty: batches go to the nearest quorum and are hedged when late', () => {
  it('sends a new batch to the nearest quorum only, and to the others once it is late', () => {
    const { r, to, tick } = replication();
    r.queue(put('a'));
    r.flush(false);
    expect(to()).toEqual(['1+1->2']);
    expect(r.ticksUntilHedge()).toBe(3);
    tick(2);
    r.hedge();
    expect(to()).toEqual([]); // not late yet
    tick(1);
    r.hedge();
    expect(to()).toEqual(['1+1->3']);
    expect(r.ticksUntilHedge()).toBeNull(); // hedged once, never again (retransmission takes over)
  });

  it('does not hedge a batch its quorum already decided', () => {
    const { r, to, tick } = replication();
    r.queue(put('a'));
    r.flush(false);
    to();
    r.ack(1, 1);
    r.ack(1, 2);
    tick(5);
    r.hedge();
    expect(to()).toEqual([]);
  });
});

// ------------------------------------------------------------------ a replica with thrifty replication

function drain(r: Replica): Ready {
  const rd = r.ready();
  r.advance(rd);
  return rd;
}

/** Replica 1 of {1,2,3} (with thrifty replication unless told otherwise), elected by 2's pre-vote and both promises: its opening accepts. */
function elected(thrifty = true): { r: Replica; opening: Message[] } {
  const r = new Replica({ id: 1, configuration: majorityConfiguration([1, 2, 3]), rng: new SeededRng(1), ...TIMING, ...(thrifty ? { thrifty: DEFAULT_THRIFTY } : {}) });
  while (r.status().role === 'follower') r.tick();
  const pv = drain(r).messages.find((m) => m.type === 'pre-vote');
  if (pv?.type !== 'pre-vote') throw new Error('no pre-vote');
  r.step({ type: 'pre-vote-reply', from: 2, to: 1, ballot: pv.ballot, granted: true, promised: { round: 0, replicaId: 0 } });
  const prepare = drain(r).messages.find((m) => m.type === 'prepare');
  if (prepare?.type !== 'prepare') throw new Error('no prepare');
  for (const from of [2, 3]) r.step({ type: 'promise', from, to: 1, ballot: prepare.ballot, fromSlot: prepare.fromSlot, decidedThrough: 0, entries: [], compactedThrough: 0 });
  return { r, opening: drain(r).messages.filter((m) => m.type === 'accept') };
}

/** Replica 1 leads {1,2,3} (with thrifty replication unless told otherwise), its opening no-op decided by both followers, which answer in 1 tick. */
function thriftyLeader(thrifty = true): Replica {
  const { r, opening } = elected(thrifty);
  r.tick();
  for (const m of opening) {
    if (m.type !== 'accept') continue;
    r.step({ type: 'accepted', from: m.to, to: 1, ballot: m.ballot, firstSlot: 1, lastSlot: 1, decidedThrough: 0, ...(m.tick !== undefined ? { tick: m.tick } : {}) });
  }
  drain(r);
  return r;
}

describe('thrifty: a leader with trailing followers', () => {
  it('sends a write to one follower of three, and catches the other up in the same RPC as its next heartbeat', () => {
    const r = thriftyLeader();
    const ballot = r.status().ballot;
    r.propose(put('a'));
    const accepts = drain(r).messages.filter((m) => m.type === 'accept');
    expect(accepts.map((m) => m.to)).toEqual([2]); // 2: measured as fast as 3, and first by id
    expect(r.status().nearestQuorum).toEqual([2]);
    r.step({ type: 'accepted', from: 2, to: 1, ballot, firstSlot: 2, lastSlot: 2, decidedThrough: 1 });
    expect(drain(r).messages.filter((m) => m.to === 3)).toEqual([]); // decided: nothing for 3 until the heartbeat
    expect(r.status().decidedThrough).toBe(2);
    let hb: Message[] = [];
    for (let i = 0; i < TIMING.heartbeatIntervalTicks && hb.length === 0; i++) {
      r.tick();
      hb = drain(r).messages.filter((m) => m.to === 3);
    }
    expect(hb.map((m) => (m.type === 'accept' ? `accept ${m.firstSlot}+${m.commands.length} decided ${m.decidedThrough}` : m.type))).toEqual(['accept 2+1 decided 2', 'heartbeat']);
  });

  it('sends the write to the trailing follower too once the nearest one is late', () => {
    const r = thriftyLeader();
    r.propose(put('a'));
    expect(drain(r).messages.filter((m) => m.type === 'accept').map((m) => m.to)).toEqual([2]);
    const hedged: number[] = [];
    for (let i = 0; i < DEFAULT_THRIFTY.hedgeMinTicks + 1 && hedged.length === 0; i++) {
      r.tick();
      hedged.push(...drain(r).messages.flatMap((m) => (m.type === 'accept' && m.firstSlot === 2 ? [m.to] : [])));
    }
    expect(hedged).toEqual([3]);
  });

  it('sends the first write of a new leadership to every follower while its opening batch is undecided, and to the nearest quorum after', () => {
    const { r, opening } = elected();
    expect(opening.map((m) => m.to)).toEqual([2, 3]);
    // No follower has answered this leadership yet: the write goes beside the opening batch, to both.
    r.propose(put('a'));
    const first = drain(r).messages.filter((m) => m.type === 'accept');
    expect(first.map((m) => [m.to, m.type === 'accept' ? m.firstSlot : null])).toEqual([
      [2, 2],
      [3, 2],
    ]);
    expect(r.status().nearestQuorum).toBeNull();
    r.tick();
    for (const m of [...opening, ...first]) {
      if (m.type !== 'accept') continue;
      r.step({ type: 'accepted', from: m.to, to: 1, ballot: m.ballot, firstSlot: m.firstSlot, lastSlot: m.firstSlot, decidedThrough: 0, ...(m.tick !== undefined ? { tick: m.tick } : {}) });
    }
    drain(r);
    expect(r.status().decidedThrough).toBe(2);
    r.propose(put('b'));
    expect(drain(r).messages.filter((m) => m.type === 'accept').map((m) => m.to)).toEqual([2]);
  });

  it('sends every batch to every follower, unstamped, when thrifty replication is off', () => {
    const r = thriftyLeader(false);
    r.propose(put('a'));
    const accepts = drain(r).messages.filter((m) => m.type === 'accept');
    expect(accepts.map((m) => [m.to, m.type === 'accept' ? m.tick : null])).toEqual([
      [2, undefined],
      [3, undefined],
    ]);
    expect(r.status().nearestQuorum).toBeNull();
  });
});
