import { describe, expect, it } from 'vitest';
import {
  type Ballot,
  type ClientCommand,
  type DurableState,
  type Message,
  type Ready,
  type ReplicaEvent,
  type ReplicaOptions,
  NOOP,
  Replica,
  SeededRng,
  majorityConfiguration,
} from '../../src/core/index.ts';

// "Paper" tests: one replica at a time, driven by hand-made messages, checking
// the exact Ready it produces. The simulator covers whole clusters.

const TIMING = {
  heartbeatIntervalTicks: 2,
  electionTimeoutTicks: 10,
  inflightMax: 2,
  batchMax: 100,
  retransmitTicks: 4,
  catchupBatchMax: 2,
};

function replica(id: number, durable?: DurableState, overrides: Partial<ReplicaOptions> = {}): Replica {
  const opts: ReplicaOptions = { id, configuration: majorityConfiguration([1, 2, 3]), rng: new SeededRng(id), ...TIMING, ...overrides };
  return new Replica(opts, durable);
}

/** Take one Ready and advance past it, as a host that did everything asked would. */
function drain(r: Replica): Ready {
  const rd = r.ready();
  r.advance(rd);
  return rd;
}

function b(round: number, replicaId: number): Ballot {
  return { round, replicaId };
}

function put(id: string, key = 'k', value = id): ClientCommand {
  return { kind: 'put', id, key, value };
}

/** Time replica 1 out and win its pre-vote with grants from `granters`; returns its prepare. */
function campaign(r: Replica, granters: number[] = [2]): Extract<Message, { type: 'prepare' }> {
  while (r.status().role === 'follower') r.tick();
  const pv = drain(r).messages.find((m) => m.type === 'pre-vote');
  if (pv?.type !== 'pre-vote') throw new Error('no pre-vote');
  for (const from of granters) r.step({ type: 'pre-vote-reply', from, to: 1, ballot: pv.ballot, granted: true, promised: b(0, 0) });
  const prepare = drain(r).messages.find((m) => m.type === 'prepare'); // our promise is durable now
  if (prepare?.type !== 'prepare') throw new Error('no prepare');
  return prepare;
}

/** Make replica 1 leader of {1,2,3} at its first ballot, with an empty log. */
function electedLeader(): Replica {
  const r = replica(1);
  const prepare = campaign(r);
  r.step({ type: 'promise', from: 2, to: 1, ballot: prepare.ballot, fromSlot: prepare.fromSlot, decidedThrough: 0, entries: [], compactedThrough: 0 });
  if (r.status().role !== 'leader') throw new Error(`not leader: ${r.status().role}`);
  return r;
}

describe('replica: acceptor', () => {
  it('promises a higher ballot and asks to persist the promise in the same Ready as the reply', () => {
    const r = replica(2);
    r.step({ type: 'prepare', from: 1, to: 2, ballot: b(1, 1), fromSlot: 1 });
    const rd = drain(r);
    expect(rd.persist?.promised).toEqual(b(1, 1));
    expect(rd.messages).toEqual([{ type: 'promise', from: 2, to: 1, ballot: b(1, 1), fromSlot: 1, decidedThrough: 0, entries: [], compactedThrough: 0 }]);
  });

  it('refuses a prepare below its promise with a nack naming the promise, and persists nothing', () => {
    const r = replica(2, { promised: b(5, 3), decidedThrough: 0, entries: [] });
    r.step({ type: 'prepare', from: 1, to: 2, ballot: b(4, 1), fromSlot: 1 });
    const rd = drain(r);
    expect(rd.persist).toBeNull();
    expect(rd.messages).toEqual([{ type: 'nack', from: 2, to: 1, ballot: b(4, 1), promised: b(5, 3) }]);
  });

  it('reports accepted entries from the requested slot on, marking the decided ones', () => {
    const entries = [
      { slot: 1, ballot: b(1, 1), command: put('a') },
      { slot: 2, ballot: b(1, 1), command: put('b') },
      { slot: 3, ballot: b(2, 3), command: put('c') },
    ];
    const r = replica(2, { promised: b(2, 3), decidedThrough: 2, entries });
    r.step({ type: 'prepare', from: 1, to: 2, ballot: b(3, 1), fromSlot: 2 });
    const promise = drain(r).messages[0];
    expect(promise).toMatchObject({
      type: 'promise',
      decidedThrough: 2,
      entries: [
        { slot: 2, ballot: b(1, 1), command: put('b'), decided: true },
        { slot: 3, ballot: b(2, 3), command: put('c'), decided: false },
      ],
    });
  });

  it('accepts a run of slots at the leader ballot, persists them, and acknowledges the run', () => {
    const r = replica(2);
    r.step({ type: 'accept', from: 1, to: 2, ballot: b(1, 1), firstSlot: 1, commands: [put('a'), put('b')], decidedThrough: 0 });
    const rd = drain(r);
    expect(rd.persist?.entries.map((e) => e.slot)).toEqual([1, 2]);
    expect(rd.persist?.promised).toEqual(b(1, 1));
    expect(rd.messages).toEqual([{ type: 'accepted', from: 2, to: 1, ballot: b(1, 1), firstSlot: 1, lastSlot: 2, decidedThrough: 0 }]);
  });

  it('does not take a slot as decided when it holds a value from another ballot there', () => {
    const r = replica(2, { promised: b(1, 3), decidedThrough: 0, entries: [{ slot: 1, ballot: b(1, 3), command: put('old') }] });
    r.step({ type: 'heartbeat', from: 1, to: 2, ballot: b(2, 1), decidedThrough: 1, readSeq: 0 });
    const rd = drain(r);
    expect(rd.decided).toEqual([]);
    expect(r.status().decidedThrough).toBe(0);
    expect(rd.messages).toEqual([{ type: 'heartbeat-reply', from: 2, to: 1, ballot: b(2, 1), decidedThrough: 0, readSeq: 0 }]);
    // Once the leader sends its own value for the slot, it is decided.
    r.step({ type: 'accept', from: 1, to: 2, ballot: b(2, 1), firstSlot: 1, commands: [put('new')], decidedThrough: 1 });
    const rd2 = drain(r);
    expect(rd2.decided.map((e) => e.command)).toEqual([put('new')]);
  });

  it('keeps its promise across a restart from the durable state it asked to persist', () => {
    const r = replica(2);
    r.step({ type: 'prepare', from: 1, to: 2, ballot: b(7, 1), fromSlot: 1 });
    const rd = drain(r);
    const restarted = replica(2, { promised: rd.persist!.promised!, decidedThrough: 0, entries: [] });
    restarted.step({ type: 'prepare', from: 3, to: 2, ballot: b(6, 3), fromSlot: 1 });
    expect(drain(restarted).messages).toEqual([{ type: 'nack', from: 2, to: 3, ballot: b(6, 3), promised: b(7, 1) }]);
  });
});

describe('replica: election', () => {
  it('a follower that times out asks for pre-votes first and persists nothing', () => {
    const r = replica(1);
    for (let i = 0; i < 40 && r.status().role === 'follower'; i++) r.tick();
    expect(r.status().role).toBe('pre-candidate');
    const rd = drain(r);
    expect(rd.persist).toBeNull();
    expect(rd.messages.map((m) => `${m.type}->${m.to}`)).toEqual(['pre-vote->2', 'pre-vote->3']);
  });

  it('a follower that heard from its leader recently refuses a pre-vote', () => {
    const r = replica(2);
    r.step({ type: 'heartbeat', from: 1, to: 2, ballot: b(1, 1), decidedThrough: 0, readSeq: 0 });
    drain(r);
    r.step({ type: 'pre-vote', from: 3, to: 2, ballot: b(2, 3), decidedThrough: 0 });
    expect(drain(r).messages).toEqual([{ type: 'pre-vote-reply', from: 2, to: 3, ballot: b(2, 3), granted: false, promised: b(1, 1) }]);
    // After an election timeout of silence it grants.
    for (let i = 0; i < TIMING.electionTimeoutTicks; i++) r.tick();
    r.step({ type: 'pre-vote', from: 3, to: 2, ballot: b(2, 3), decidedThrough: 0 });
    expect(drain(r).messages.at(-1)).toMatchObject({ type: 'pre-vote-reply', granted: true });
  });

  it('a logger whose leader went silent grants pre-votes for good, not only until its own timer restarts', () => {
    const cfg = majorityConfiguration([1, 2, 3]);
    const members = cfg.members.map((m) => (m.id === 3 ? { ...m, role: 'logger' as const } : m));
    const r = replica(3, undefined, { configuration: { ...cfg, members } });
    r.step({ type: 'heartbeat', from: 1, to: 3, ballot: b(1, 1), decidedThrough: 0, readSeq: 0 });
    drain(r);
    // Its timer fires (a logger never campaigns: it restarts), then a little more time passes.
    for (let i = 0; i < 3 * TIMING.electionTimeoutTicks; i++) r.tick();
    expect(r.status().leaderId).toBeNull();
    // Said, not silent: the status's last transition (and the host's `leader_lost` log line) names the leader and why.
    expect(r.status().lastTransition).toMatchObject({ from: 'follower', to: 'follower', leaderId: null, why: expect.stringMatching(/^leader 1 silent for \d+ ticks?; a logger never campaigns$/) });
    r.step({ type: 'pre-vote', from: 2, to: 3, ballot: b(2, 2), decidedThrough: 0 });
    expect(drain(r).messages.at(-1)).toMatchObject({ type: 'pre-vote-reply', granted: true });
  });

  it('resume: a follower that could not run for a while listens for a whole election timeout again', () => {
    const r = replica(2);
    r.step({ type: 'heartbeat', from: 1, to: 2, ballot: b(1, 1), decidedThrough: 0, readSeq: 0 });
    drain(r);
    const before = r.ticksUntilNextTimer()!;
    for (let i = 0; i < before - 1; i++) r.tick();
    expect(r.ticksUntilNextTimer()).toBe(1);
    r.resume();
    expect(r.ticksUntilNextTimer()).toBe(before);
    expect(r.status()).toMatchObject({ role: 'follower', leaderId: 1 });
  });

  it('resume: a leader that could not run for a while sends heartbeats at once and gives its followers a fresh check-quorum window', () => {
    const idle = electedLeader();
    for (let i = 0; i < TIMING.electionTimeoutTicks; i++) idle.tick(); // no follower answered meanwhile
    expect(idle.status().role).toBe('follower'); // check-quorum: it steps down after one window

    const r = electedLeader();
    for (let i = 0; i < TIMING.electionTimeoutTicks - 1; i++) r.tick();
    drain(r);
    r.resume();
    expect(drain(r).messages.map((m) => `${m.type}->${m.to}`)).toEqual(['heartbeat->2', 'heartbeat->3']);
    for (let i = 0; i < TIMING.electionTimeoutTicks - 1; i++) r.tick();
    expect(r.status().role).toBe('leader');
    r.tick();
    expect(r.status().role).toBe('follower'); // still nobody answered: a whole window later, it steps down
  });

  it('restart: comes back quiet as it went quiet, only while its promise is that ballot and its whole log is decided', () => {
    const entry = { slot: 1, ballot: b(3, 1), command: put('a') };
    const quietLeader = { promised: b(3, 1), decidedThrough: 1, entries: [entry], quiet: { leaderId: 1, ballot: b(3, 1), epoch: 0 } };
    expect(replica(1, quietLeader).status()).toMatchObject({ role: 'leader', quiet: true, leaderId: 1, ballot: b(3, 1) });
    expect(replica(1, quietLeader).ticksUntilNextTimer()).toBeNull(); // no timers until someone speaks
    // A follower comes back following its leader.
    expect(replica(2, { ...quietLeader, promised: b(3, 1) }).status()).toMatchObject({ role: 'follower', quiet: true, leaderId: 1 });
    // It answered a later ballot since: it starts as any replica does (election timer running).
    const moved = replica(1, { ...quietLeader, promised: b(4, 2) });
    expect(moved.status()).toMatchObject({ role: 'follower', quiet: false, leaderId: null });
    expect(moved.ticksUntilNextTimer()).not.toBeNull();
    // A minority force-start began a later epoch since: the quorums changed, no restore.
    expect(replica(1, { ...quietLeader, epoch: 1 }).status()).toMatchObject({ role: 'follower', quiet: false });
    // A slot in its log is not decided (a batch was in flight): no batch to resume, so no restore.
    const inFlight = replica(1, { ...quietLeader, entries: [entry, { slot: 2, ballot: b(3, 1), command: put('b') }] });
    expect(inFlight.status()).toMatchObject({ role: 'follower', quiet: false });
  });

  it('restart: a restored quiet leader wakes on a proposal and sends it at its ballot in the next slot', () => {
    const r = replica(1, { promised: b(3, 1), decidedThrough: 1, entries: [{ slot: 1, ballot: b(3, 1), command: put('a') }], quiet: { leaderId: 1, ballot: b(3, 1), epoch: 0 } });
    expect(r.propose(put('next'))).toMatchObject({ ok: true });
    const accepts = drain(r).messages.filter((m) => m.type === 'accept');
    expect(accepts.map((m) => m.to)).toEqual([2, 3]);
    expect(accepts[0]).toMatchObject({ ballot: b(3, 1), firstSlot: 2 });
  });

  it('a new leader re-proposes the highest-ballot value of every slot and fills holes with no-ops', () => {
    // Five voters, so the promise quorum is ourselves plus both promises below.
    const r = replica(1, undefined, { configuration: majorityConfiguration([1, 2, 3, 4, 5]) });
    const prepare = campaign(r, [2, 3]);
    r.step({
      type: 'promise',
      from: 2,
      to: 1,
      ballot: prepare.ballot,
      fromSlot: 1,
      decidedThrough: 0,
      compactedThrough: 0,
      entries: [
        { slot: 1, ballot: b(1, 3), command: put('low'), decided: false },
        { slot: 3, ballot: b(1, 3), command: put('three'), decided: false },
      ],
    });
    expect(r.status().role).toBe('candidate');
    r.step({
      type: 'promise',
      from: 3,
      to: 1,
      ballot: prepare.ballot,
      fromSlot: 1,
      decidedThrough: 0,
      compactedThrough: 0,
      entries: [{ slot: 1, ballot: b(2, 2), command: put('high'), decided: false }],
    });
    expect(r.status().role).toBe('leader');
    const rd = drain(r);
    const accept = rd.messages.find((m) => m.type === 'accept' && m.to === 5);
    // slot 1: the value at the highest ballot; slot 2: a hole; slot 3: the only value; slot 4: the opening no-op.
    expect(accept).toMatchObject({ firstSlot: 1, commands: [put('high'), NOOP, put('three'), NOOP] });
    expect(rd.persist?.entries.map((e) => e.ballot)).toEqual([prepare.ballot, prepare.ballot, prepare.ballot, prepare.ballot]);
  });

  it('a leader that hears from no quorum within an election timeout steps down (check-quorum)', () => {
    const r = electedLeader();
    drain(r);
    for (let i = 0; i < TIMING.electionTimeoutTicks; i++) {
      r.tick();
      drain(r);
    }
    expect(r.status().role).toBe('follower');
    expect(r.status().leaderId).toBeNull();
  });

  it('a leader steps down when an acceptor reports a higher promise', () => {
    const r = electedLeader();
    const own = r.status().ballot;
    r.step({ type: 'nack', from: 2, to: 1, ballot: own, promised: b(own.round + 1, 3) });
    expect(r.status().role).toBe('follower');
  });
});

describe('replica: leader', () => {
  it('sends every proposal pending at once as one accept batch per acceptor', () => {
    const r = electedLeader();
    drain(r);
    for (const id of ['a', 'b', 'c']) expect(r.propose(put(id)).ok).toBe(true);
    const rd = drain(r);
    const accepts = rd.messages.filter((m) => m.type === 'accept');
    expect(accepts.map((m) => m.to)).toEqual([2, 3]);
    expect(accepts[0]).toMatchObject({ firstSlot: 2, commands: [put('a'), put('b'), put('c')] });
    expect(rd.persist?.entries.map((e) => e.slot)).toEqual([2, 3, 4]);
  });

  it('keeps up to inflightMax accept batches in flight beside its opening batch, and queues the rest', () => {
    const r = electedLeader(); // slot 1 (opening no-op) is in flight, outside the pipeline's window of 2
    drain(r);
    r.propose(put('a'));
    expect(drain(r).messages.filter((m) => m.type === 'accept')).toHaveLength(2); // first batch of the window, beside the opening one
    r.propose(put('b'));
    expect(drain(r).messages.filter((m) => m.type === 'accept')).toHaveLength(2); // second batch
    r.propose(put('c'));
    expect(drain(r).messages.filter((m) => m.type === 'accept')).toHaveLength(0); // window of 2 is full
    const own = r.status().ballot;
    r.step({ type: 'accepted', from: 2, to: 1, ballot: own, firstSlot: 1, lastSlot: 1, decidedThrough: 0 });
    let rd = drain(r);
    expect(rd.decided.map((e) => e.slot)).toEqual([1]);
    expect(rd.messages.filter((m) => m.type === 'accept')).toHaveLength(0); // the opening batch took no place in the window
    r.step({ type: 'accepted', from: 2, to: 1, ballot: own, firstSlot: 2, lastSlot: 2, decidedThrough: 0 });
    rd = drain(r);
    expect(rd.decided.map((e) => e.slot)).toEqual([2]);
    expect(rd.messages.filter((m) => m.type === 'accept')).toHaveLength(2); // 'c' goes out as the window opens
  });

  it('decides a slot once its own durable accept and one more make a quorum of three', () => {
    const r = electedLeader();
    const own = r.status().ballot;
    drain(r);
    expect(r.status().decidedThrough).toBe(0);
    r.step({ type: 'accepted', from: 2, to: 1, ballot: own, firstSlot: 1, lastSlot: 1, decidedThrough: 0 });
    expect(r.status().decidedThrough).toBe(1);
  });

  it('does not count its own accept before the host has persisted it', () => {
    const r = electedLeader();
    const own = r.status().ballot;
    const rd = r.ready(); // the opening no-op is not yet durable here
    r.step({ type: 'accepted', from: 2, to: 1, ballot: own, firstSlot: 1, lastSlot: 1, decidedThrough: 0 });
    expect(r.status().decidedThrough).toBe(0);
    r.advance(rd);
    expect(r.status().decidedThrough).toBe(1);
  });

  it('catches a lagging acceptor up from the decided prefix it reports', () => {
    const r = electedLeader();
    drain(r);
    const own = r.status().ballot;
    r.propose(put('a'));
    drain(r);
    r.step({ type: 'accepted', from: 2, to: 1, ballot: own, firstSlot: 1, lastSlot: 2, decidedThrough: 0 });
    drain(r);
    expect(r.status().decidedThrough).toBe(2);
    // The batches that carried slots 1-2 to replica 3 are overdue (lost): catch-up sends them again.
    for (let i = 0; i < TIMING.retransmitTicks; i++) r.tick();
    drain(r);
    r.step({ type: 'heartbeat-reply', from: 3, to: 1, ballot: own, decidedThrough: 0, readSeq: 0 });
    const catchUp = drain(r).messages.filter((m) => m.type === 'accept' && m.to === 3);
    expect(catchUp).toEqual([
      { type: 'accept', from: 1, to: 3, ballot: own, firstSlot: 1, commands: [NOOP, put('a')], decidedThrough: 2 },
    ]);
  });

  it('refuses proposals and reads when not the leader, naming the leader it knows', () => {
    const r = replica(2);
    r.step({ type: 'heartbeat', from: 3, to: 2, ballot: b(1, 3), decidedThrough: 0, readSeq: 0 });
    expect(r.propose(put('x'))).toEqual({ ok: false, reason: 'not-leader', leaderHint: 3 });
    expect(r.readIndex('r1')).toEqual({ ok: false, reason: 'not-leader', leaderHint: 3 });
  });

  it('confirms a read only after a quorum answered a heartbeat broadcast sent after the read', () => {
    const r = electedLeader();
    drain(r);
    const own = r.status().ballot;
    r.step({ type: 'accepted', from: 2, to: 1, ballot: own, firstSlot: 1, lastSlot: 1, decidedThrough: 0 });
    drain(r);
    expect(r.readIndex('r1').ok).toBe(true);
    const rd = drain(r);
    expect(rd.readStates).toEqual([]);
    const hb = rd.messages.find((m) => m.type === 'heartbeat');
    if (hb?.type !== 'heartbeat') throw new Error('no heartbeat broadcast for the read');
    // An answer to an older broadcast does not confirm it.
    r.step({ type: 'heartbeat-reply', from: 2, to: 1, ballot: own, decidedThrough: 1, readSeq: hb.readSeq - 1 });
    expect(drain(r).readStates).toEqual([]);
    r.step({ type: 'heartbeat-reply', from: 3, to: 1, ballot: own, decidedThrough: 1, readSeq: hb.readSeq });
    expect(drain(r).readStates).toEqual([{ readId: 'r1', decidedThrough: 1 }]);
  });

  it('drops queued proposals and unconfirmed reads when it steps down', () => {
    const r = electedLeader();
    r.readIndex('r1'); // waits for the opening no-op
    drain(r);
    r.propose(put('a'));
    r.propose(put('b'));
    r.propose(put('c'));
    drain(r); // 'a','b','c' go out in the second window slot
    r.propose(put('d')); // queued: window full
    const own = r.status().ballot;
    r.step({ type: 'nack', from: 2, to: 1, ballot: own, promised: b(own.round + 1, 2) });
    const rd = drain(r);
    expect(rd.dropped).toEqual({ proposals: ['d'], reads: ['r1'] });
  });
});

describe('replica: host contract', () => {
  it('refuses a second ready() before advance() and an advance() with a foreign Ready', () => {
    const r = replica(1);
    const rd = r.ready();
    expect(() => r.ready()).toThrow(/before advance/);
    expect(() => r.advance({ ...rd })).toThrow(/not the outstanding/);
    r.advance(rd);
  });

  it('refuses impossible options with a message naming the option', () => {
    expect(() => replica(1, undefined, { electionTimeoutTicks: 2, heartbeatIntervalTicks: 2 })).toThrow(/heartbeatIntervalTicks/);
    expect(() => replica(1, undefined, { batchMax: 0 })).toThrow(/batchMax must be a positive integer/);
  });

  it('is deterministic: the same seed and inputs give the same Readies', () => {
    const run = (): string => {
      const r = replica(1);
      const out: unknown[] = [];
      for (let i = 0; i < 60; i++) {
        r.tick();
        out.push(drain(r));
      }
      return JSON.stringify(out);
    };
    expect(run()).toBe(run());
  });
});

describe('replica: every transition and refusal says why', () => {
  it('a follower that times out becomes pre-candidate, then candidate, then leader, each with its reason, in the status and to the observer', () => {
    const events: ReplicaEvent[] = [];
    const r = replica(1, undefined, { observe: (e) => events.push(e) });
    const prepare = campaign(r);
    r.step({ type: 'promise', from: 2, to: 1, ballot: prepare.ballot, fromSlot: prepare.fromSlot, decidedThrough: 0, entries: [], compactedThrough: 0 });
    expect(events.map((e) => (e.kind === 'transition' ? `${e.from} -> ${e.to}: ${e.why}` : `refused ${e.what}: ${e.why}`))).toEqual([
      expect.stringMatching(/^follower -> pre-candidate: election timeout: no leader for \d+ ticks?$/),
      'pre-candidate -> candidate: pre-votes of 1, 2 are a quorum',
      'candidate -> leader: promises of 1, 2 at 1.1 are a quorum',
    ]);
    expect(r.status().lastTransition).toMatchObject({ from: 'candidate', to: 'leader', leaderId: 1 });
  });

  it('a refused pre-vote records whose leader it still hears', () => {
    const r = replica(2);
    r.step({ type: 'heartbeat', from: 1, to: 2, ballot: b(1, 1), decidedThrough: 0, readSeq: 0 });
    r.step({ type: 'pre-vote', from: 3, to: 2, ballot: b(2, 3), decidedThrough: 0 });
    expect(r.status().lastRefusal).toEqual({ tick: 0, what: 'pre-vote for 3 at 2.3', why: 'it heard from leader 1 0 ticks ago' });
    expect(r.status().lastTransition).toMatchObject({ from: 'follower', to: 'follower', leaderId: 1, why: 'heartbeat from leader 1 at 1.1' });
  });

  it('a leader that hears from no quorum steps down saying who answered', () => {
    const r = electedLeader();
    for (let i = 0; i < TIMING.electionTimeoutTicks; i++) r.tick();
    expect(r.status().lastTransition).toMatchObject({ from: 'leader', to: 'follower', why: 'check-quorum: only 1 answered within an election timeout' });
  });

  it('a refused operator control records its code and message', () => {
    const r = replica(2);
    expect(r.transferLeadership(3)).toMatchObject({ ok: false, code: 'not-leader' });
    expect(r.status().lastRefusal).toMatchObject({ what: 'switchover', why: 'not-leader: only the leader can hand over leadership' });
  });

  it('a stale leader’s accept is refused with the promise that outranks it', () => {
    const r = replica(2, { promised: b(5, 3), decidedThrough: 0, entries: [] });
    r.step({ type: 'accept', from: 1, to: 2, ballot: b(4, 1), firstSlot: 1, commands: [put('a')], decidedThrough: 0 });
    expect(r.status().lastRefusal).toMatchObject({ what: 'accept from 1 at 4.1', why: 'it promised 5.3' });
  });
});
