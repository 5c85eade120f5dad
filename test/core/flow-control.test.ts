import { describe, expect, it } from 'vitest';
import {
  type ClientCommand,
  type FlowState,
  type Ready,
  AdaptiveFlowController,
  Replica,
  SeededRng,
  TravellingBatches,
  checkFlowLimits,
  majorityConfiguration,
} from '../../src/core/index.ts';

// Flow control: the leader's batching limits (pipeline depth, batch window) and
// the adaptive controller that picks them. The controller is fed synthetic
// workloads here, with a clock the test owns; the bench measures real ones.

function put(id: string): ClientCommand {
  return { kind: 'put', id, key: 'k', value: id };
}

function drain(r: Replica): Ready {
  const rd = r.ready();
  r.advance(rd);
  return rd;
}

/** Replica 1 leads {1,2,3} with its opening no-op decided, nothing in flight. */
function idleLeader(): Replica {
  const r = new Replica({
    id: 1,
    configuration: majorityConfiguration([1, 2, 3]),
    rng: new SeededRng(1),
    heartbeatIntervalTicks: 2,
    electionTimeoutTicks: 10,
    inflightMax: 8,
    batchMax: 100,
    retransmitTicks: 4,
    catchupBatchMax: 2,
  });
  while (r.status().role === 'follower') r.tick();
  const pv = drain(r).messages.find((m) => m.type === 'pre-vote');
  if (pv?.type !== 'pre-vote') throw new Error('no pre-vote');
  r.step({ type: 'pre-vote-reply', from: 2, to: 1, ballot: pv.ballot, granted: true, promised: { round: 0, replicaId: 0 } });
  const prepare = drain(r).messages.find((m) => m.type === 'prepare');
  if (prepare?.type !== 'prepare') throw new Error('no prepare');
  r.step({ type: 'promise', from: 2, to: 1, ballot: prepare.ballot, fromSlot: prepare.fromSlot, decidedThrough: 0, entries: [], compactedThrough: 0 });
  drain(r);
  r.step({ type: 'accepted', from: 2, to: 1, ballot: r.status().ballot, firstSlot: 1, lastSlot: 1, decidedThrough: 0 });
  drain(r);
  if (r.flowState().inflight !== 0) throw new Error('opening no-op still in flight');
  return r;
}

function accepts(rd: Ready): { firstSlot: number; size: number }[] {
  return rd.messages.flatMap((m) => (m.type === 'accept' && m.to === 2 ? [{ firstSlot: m.firstSlot, size: m.commands.length }] : []));
}

describe('flow control: the leader obeys its limits', () => {
  it('refuses limits that would stall the leader', () => {
    expect(() => checkFlowLimits({ inflightMax: 0, batchMax: 10, batchMin: 1 })).toThrow(/invalid limits/);
    expect(() => checkFlowLimits({ inflightMax: 1, batchMax: 10, batchMin: 11 })).toThrow(/invalid limits/);
    expect(() => checkFlowLimits({ inflightMax: 1, batchMax: 10, batchMin: 0 })).toThrow(/invalid limits/);
    expect(checkFlowLimits({ inflightMax: 1, batchMax: 10, batchMin: 10 })).toEqual({ inflightMax: 1, batchMax: 10, batchMin: 10 });
  });

  it('with depth 1, commands that arrive while a batch is in flight go out together once it is decided', () => {
    const r = idleLeader();
    r.setFlowLimits({ inflightMax: 1, batchMax: 100, batchMin: 1 });
    r.propose(put('a'));
    expect(accepts(drain(r))).toEqual([{ firstSlot: 2, size: 1 }]);
    for (const id of ['b', 'c', 'd']) r.propose(put(id));
    expect(accepts(drain(r))).toEqual([]); // the pipeline is full
    expect(r.flowState()).toMatchObject({ inflight: 1, queued: 3, lastProposedSlot: 2 });
    r.step({ type: 'accepted', from: 2, to: 1, ballot: r.status().ballot, firstSlot: 2, lastSlot: 2, decidedThrough: 1 });
    expect(accepts(drain(r))).toEqual([{ firstSlot: 3, size: 3 }]);
    expect(r.flowState()).toMatchObject({ inflight: 1, queued: 0, decidedThrough: 2, lastProposedSlot: 5 });
  });

  it('a batch window holds a short queue while a batch is in flight, never while none is', () => {
    const r = idleLeader();
    r.setFlowLimits({ inflightMax: 4, batchMax: 100, batchMin: 3 });
    r.propose(put('a'));
    expect(accepts(drain(r))).toEqual([{ firstSlot: 2, size: 1 }]); // nothing in flight: at once
    r.propose(put('b'));
    r.propose(put('c'));
    expect(accepts(drain(r))).toEqual([]); // 2 < 3 while a batch is in flight: wait
    r.propose(put('d'));
    expect(accepts(drain(r))).toEqual([{ firstSlot: 3, size: 3 }]); // the window is full
    r.propose(put('e'));
    expect(accepts(drain(r))).toEqual([]);
    const own = r.status().ballot;
    r.step({ type: 'accepted', from: 2, to: 1, ballot: own, firstSlot: 2, lastSlot: 5, decidedThrough: 1 });
    expect(accepts(drain(r))).toEqual([{ firstSlot: 6, size: 1 }]); // nothing in flight again: the straggler goes
  });

  it('splits a long queue into batches of at most batchMax commands', () => {
    const r = idleLeader();
    r.setFlowLimits({ inflightMax: 3, batchMax: 2, batchMin: 1 });
    for (const id of ['a', 'b', 'c', 'd', 'e', 'f', 'g']) r.propose(put(id));
    expect(accepts(drain(r))).toEqual([
      { firstSlot: 2, size: 2 },
      { firstSlot: 4, size: 2 },
      { firstSlot: 6, size: 2 },
    ]);
    expect(r.flowState()).toMatchObject({ inflight: 3, queued: 1 });
  });
});

/**
 * A leader under a synthetic load, observed the way the host does: each batch
 * takes `latencyMs(depth)` from sent to decided, and (when `backlogged`) the
 * queue never empties. Returns the depth after `ms` of it.
 */
function run(c: AdaptiveFlowController, ms: number, latencyMs: (depth: number) => number, backlogged: boolean, start = { nowMs: 0, slot: 0 }): { nowMs: number; slot: number; depth: number } {
  let { nowMs, slot } = start;
  let decided = slot;
  const inFlight: { last: number; doneAt: number }[] = [];
  const end = nowMs + ms;
  while (nowMs < end) {
    const depth = c.limits().inflightMax;
    while (inFlight.length > 0 && inFlight[0]!.doneAt <= nowMs) decided = inFlight.shift()!.last;
    while (inFlight.length < depth) {
      slot += 10;
      inFlight.push({ last: slot, doneAt: nowMs + latencyMs(depth) });
      // The host observes after every input: here, after each batch it sends.
      const state: FlowState = { inflight: inFlight.length, queued: backlogged ? 5 : 0, decidedThrough: decided, lastProposedSlot: slot };
      c.observe(nowMs, state);
    }
    nowMs += 1;
    c.observe(nowMs, { inflight: inFlight.length, queued: backlogged ? 5 : 0, decidedThrough: decided, lastProposedSlot: slot });
  }
  return { nowMs, slot, depth: c.limits().inflightMax };
}

describe('flow control: the adaptive controller', () => {
  it('starts shallow, sends every batch at once, and changes nothing while idle', () => {
    const c = new AdaptiveFlowController();
    expect(c.limits()).toEqual({ inflightMax: 1, batchMax: 256, batchMin: 1 });
    for (let t = 0; t < 10_000; t += 10) expect(c.observe(t, { inflight: 0, queued: 0, decidedThrough: 5, lastProposedSlot: 5 })).toBeNull();
    expect(c.period()).toBeNull();
  });

  it('deepens the pipeline when batches take a long round trip and commands wait behind it (a WAN)', () => {
    const c = new AdaptiveFlowController();
    const after = run(c, 10_000, () => 100, true);
    expect(after.depth).toBeGreaterThanOrEqual(8);
    expect(after.depth).toBeLessThanOrEqual(16);
    expect(c.period()?.queuedBatches).toBeLessThan(0.25);
  });

  it('does not deepen a pipeline that nothing waits behind (light load)', () => {
    const c = new AdaptiveFlowController();
    expect(run(c, 10_000, () => 100, false).depth).toBe(1);
  });

  it('makes the pipeline shallower when deeper ones only queue batches behind each other (a saturated replica)', () => {
    // Every batch costs the replicas 2 ms of work on top of a 1 ms round trip, one after another.
    const saturated = (depth: number): number => 1 + 2 * depth;
    const c = new AdaptiveFlowController({ initialInflight: 8 });
    const after = run(c, 5_000, saturated, true);
    expect(after.depth).toBeLessThanOrEqual(2);
    expect(['same', 'probe', 'probed']).toContain(c.period()?.change);
  });

  it('remembers the floor latency, so a WAN-deepened pipeline shrinks again once batches start to queue', () => {
    const c = new AdaptiveFlowController();
    const wan = run(c, 10_000, () => 100, true);
    expect(wan.depth).toBeGreaterThan(4);
    // The same leader, now with replicas whose work grows with the depth.
    const after = run(c, 20_000, (depth) => 100 + 30 * depth, true, wan);
    expect(after.depth).toBeLessThan(wan.depth);
  });

  it('refuses options under which it could not decide', () => {
    expect(() => new AdaptiveFlowController({ minInflight: 0 })).toThrow(/invalid adaptive options/);
    expect(() => new AdaptiveFlowController({ initialInflight: 20, maxInflight: 16 })).toThrow(/invalid adaptive options/);
    expect(() => new AdaptiveFlowController({ growBelow: 2, shrinkAbove: 1 })).toThrow(/invalid adaptive options/);
  });

  it('does not flap: a depth it just left for queueing is not retried for holdPeriods periods', () => {
    // Batches queue at depth 2 and not at depth 1; at depth 1 the latency is near the floor and commands wait.
    const twoQueues = (depth: number): number => (depth >= 2 ? 12 : 4);
    const c = new AdaptiveFlowController({ initialInflight: 2, holdPeriods: 10 });
    const changes: string[] = [];
    let at = { nowMs: 0, slot: 0 };
    for (let i = 0; i < 40; i++) {
      const r = run(c, 100, twoQueues, true, at);
      at = r;
      const e = c.period();
      if (e && e.change !== 'same') changes.push(e.change);
    }
    const deeper = changes.filter((x) => x === 'deeper').length;
    expect(deeper).toBeLessThanOrEqual(4); // at most once per hold period, not every other period
  });
});

describe('catch-up: a slow acceptor gets each slot once', () => {
  it('tracks the batches on their way and forgets them once acknowledged, non-contiguous or overdue', () => {
    const t = new TravellingBatches();
    expect(t.travellingThrough(0, 0, 4)).toBe(0);
    t.sent(1, 10, 0);
    t.sent(11, 20, 1);
    expect(t.travellingThrough(0, 2, 4)).toBe(20);
    expect(t.travellingThrough(10, 2, 4)).toBe(20); // the first batch was acknowledged
    expect(t.travellingThrough(10, 5, 4)).toBe(10); // the second is overdue: catch-up covers it
    t.sent(30, 31, 6); // a gap: what came before is not known to be travelling
    expect(t.travellingThrough(10, 6, 4)).toBe(10);
    expect(t.travellingThrough(29, 6, 4)).toBe(31);
  });

  it('a leader does not resend decided slots to an acceptor that has them on the way, but does once they are overdue', () => {
    const r = idleLeader();
    r.setFlowLimits({ inflightMax: 4, batchMax: 100, batchMin: 1 });
    const own = r.status().ballot;
    r.propose(put('a'));
    r.propose(put('b'));
    drain(r); // slots 2-3 to replicas 2 and 3
    r.step({ type: 'accepted', from: 2, to: 1, ballot: own, firstSlot: 2, lastSlot: 3, decidedThrough: 1 }); // decided by {1, 2}
    r.propose(put('c'));
    drain(r); // slot 4
    // Replica 3 is slow: it answers an old heartbeat, knowing slot 1 only.
    r.step({ type: 'heartbeat-reply', from: 3, to: 1, ballot: own, decidedThrough: 1, readSeq: 0 });
    const toThree = drain(r).messages.filter((m) => m.to === 3 && m.type === 'accept');
    expect(toThree).toEqual([]); // slots 2-4 are on their way to it
    for (let i = 0; i < 4; i++) r.tick(); // retransmitTicks pass without an answer from replica 3
    drain(r);
    r.step({ type: 'heartbeat-reply', from: 3, to: 1, ballot: own, decidedThrough: 1, readSeq: 0 });
    const resent = drain(r).messages.filter((m) => m.to === 3 && m.type === 'accept');
    expect(resent.map((m) => (m.type === 'accept' ? [m.firstSlot, m.commands.length] : []))).toContainEqual([2, 2]); // the decided slots, again
  });
});
