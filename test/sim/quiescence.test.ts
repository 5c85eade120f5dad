import { describe, expect, it } from 'vitest';
import { SeededRng } from '../../src/core/index.ts';
import { SimCluster } from '../../sim/cluster.ts';

// Going quiet: a stream no client asks anything for a while stops all traffic, and the next request wakes it.

const ELECTION = 10;
const QUIESCE = 3 * ELECTION;

function cluster(seed: number): SimCluster {
  return new SimCluster({ replicas: 3, rng: new SeededRng(seed), quietAfterTicks: QUIESCE });
}

function untilQuiet(c: SimCluster): void {
  c.runUntil(() => c.ids.every((id) => c.replica(id).core!.status().quiet), QUIESCE + 10 * ELECTION, 'every replica quiet');
}

/** A settled stream gone quiet, and how many ticks a write took while it was busy. */
function quietStream(seed: number): { c: SimCluster; busyTicks: number } {
  const c = cluster(seed);
  c.runUntil(() => c.leaderId() !== null, 20 * ELECTION, 'a leader');
  expect(c.write('k', 'v1')).not.toBeNull();
  const busy = c.now;
  c.write('k', 'warm');
  const busyTicks = c.now - busy;
  untilQuiet(c);
  return { c, busyTicks };
}

describe('cluster: quiescence', () => {
  it('cluster: quiescence: an idle stream sends nothing once quiet, and the next write costs at most one extra round trip', () => {
    const { c, busyTicks } = quietStream(1);
    const sent = c.network.sent;
    c.runTicks(50 * ELECTION);
    expect(c.network.sent).toBe(sent); // nothing at all while idle
    const leader = c.leaderId()!;
    const start = c.now;
    expect(c.write('k', 'v2')).toMatchObject({ kind: 'put', ok: true });
    expect(c.now - start).toBeLessThanOrEqual(busyTicks + 2); // one-tick hops: the wake-up costs at most a round trip
    expect(c.leaderId()).toBe(leader); // nobody campaigned meanwhile
  });

  it('cluster: quiescence: a leader that dies while the stream is quiet is replaced once a client asks', () => {
    const c = cluster(2);
    c.runUntil(() => c.leaderId() !== null, 20 * ELECTION, 'a leader');
    c.write('k', 'v1');
    untilQuiet(c);
    const dead = c.leaderId()!;
    c.crash(dead);
    c.runTicks(50 * ELECTION);
    expect(c.leaderId()).toBeNull(); // nobody noticed: nothing to notice with
    // A client finds the leader gone and asks the others (as the Worker does): that resumes failure detection.
    for (const id of c.upIds()) expect(c.propose(id, { kind: 'put', id: `probe${id}`, key: 'p', value: 'p' }, () => {})).toMatchObject({ ok: false });
    c.flush();
    const r = c.write('k', 'after', 60 * ELECTION);
    expect(r).toMatchObject({ kind: 'put', ok: true });
    expect(c.leaderId()).not.toBe(dead);
  });

  it('cluster: quiescence: a follower woken by a client does not depose a healthy quiet leader', () => {
    const c = cluster(3);
    c.runUntil(() => c.leaderId() !== null, 20 * ELECTION, 'a leader');
    c.write('k', 'v1');
    untilQuiet(c);
    const leader = c.leaderId()!;
    const ballot = c.replica(leader).core!.status().ballot;
    const follower = c.ids.find((id) => id !== leader)!;
    // A client asks a follower (wrong replica): it resumes its timer, times out, and pre-votes; the leader wakes and answers.
    c.replica(follower).core!.propose({ kind: 'put', id: 'misrouted', key: 'x', value: 'y' });
    c.flush();
    c.runTicks(20 * ELECTION);
    expect(c.leaderId()).toBe(leader);
    expect(c.replica(leader).core!.status().ballot).toEqual(ballot);
  });

  it('cluster: quiescence: replicas restarted while quiet (idle eviction) come back quiet, and the first write costs one round trip, not an election', () => {
    const { c, busyTicks } = quietStream(4);
    const leader = c.leaderId()!;
    const ballot = c.replica(leader).core!.status().ballot;
    for (const id of c.ids) c.crash(id, 'idle eviction');
    c.runTicks(5 * ELECTION);
    for (const id of c.ids) c.restart(id);
    expect(c.quietRestarts).toBe(3);
    expect(c.leaderId()).toBe(leader);
    const sent = c.network.sent;
    c.runTicks(50 * ELECTION);
    expect(c.network.sent).toBe(sent); // still quiet: nobody campaigns
    const start = c.now;
    expect(c.write('k', 'v2')).toMatchObject({ kind: 'put', ok: true });
    expect(c.now - start).toBeLessThanOrEqual(busyTicks + 2);
    expect(c.replica(leader).core!.status().ballot).toEqual(ballot); // no election happened
    expect(c.replica(leader).sm.get('k')?.value).toBe('v2');
  });

  it('cluster: quiescence: a leader restarted quiet after another was elected is refused at its old ballot and steps down', () => {
    const c = cluster(5);
    c.runUntil(() => c.leaderId() !== null, 20 * ELECTION, 'a leader');
    expect(c.write('k', 'v1')).not.toBeNull();
    untilQuiet(c);
    const old = c.leaderId()!;
    const oldBallot = c.replica(old).core!.status().ballot;
    c.crash(old, 'idle eviction');
    const other = c.ids.find((id) => id !== old)!;
    expect(c.replica(other).core!.campaignNow()).toMatchObject({ ok: true });
    c.flush();
    c.runUntil(() => c.leaderId() === other, 10 * ELECTION, 'another leader');
    expect(c.write('k', 'v2')).toMatchObject({ kind: 'put', ok: true });
    c.restart(old);
    // Its promise is still the old ballot (it heard nothing): it comes back as a quiet leader there.
    expect(c.replica(old).core!.status()).toMatchObject({ role: 'leader', quiet: true, ballot: oldBallot });
    // A client asks it first: its accepts are refused (the acceptors promised higher), it steps down, the write goes to the real leader.
    c.replica(old).core!.propose({ kind: 'put', id: 'to-old', key: 'k', value: 'v3' });
    c.flush();
    c.runTicks(5 * ELECTION);
    expect(c.replica(old).core!.status().role).toBe('follower');
    expect(c.write('k', 'v4')).toMatchObject({ kind: 'put', ok: true });
    for (const id of c.ids) expect(c.replica(id).core!.status().ballot).not.toEqual(oldBallot);
  });

  it('cluster: quiescence: answers to a quiet-restarted leader\'s previous life never confirm its reads (read nonces are unique across lives)', () => {
    const c = cluster(6);
    c.runUntil(() => c.leaderId() !== null, 20 * ELECTION, 'a leader');
    expect(c.write('k', 'old')).not.toBeNull();
    untilQuiet(c);
    const old = c.leaderId()!;
    const ballot = c.replica(old).core!.status().ballot;
    const a = c.ids.find((id) => id !== old)!;
    // A read wakes the leader; the answer of `a` to its read broadcast is held back in the network (an adversarial delay).
    c.network.holding = (m) => m.type === 'heartbeat-reply' && m.from === a && m.to === old && m.readSeq > 0;
    expect(c.read(old, 'r1', 'k', () => {})).toMatchObject({ ok: true });
    c.flush();
    c.runUntil(() => c.network.held.length > 0, ELECTION, 'an answer held back');
    // The leader is evicted; the others elect a new leader and acknowledge a write the old one never hears of.
    c.crash(old, 'eviction');
    c.network.isolate(old, c.ids);
    c.runUntil(() => c.leaderId() !== null, 20 * ELECTION, 'a new leader');
    expect(c.write('k', 'new')).toMatchObject({ kind: 'put', ok: true });
    // Restarted, it heard nothing newer: its promise is still its ballot, its log decided, so it comes back a quiet leader there.
    c.restart(old);
    expect(c.replica(old).core!.status()).toMatchObject({ role: 'leader', quiet: true, ballot });
    // A read of this life; then the held answer (same ballot, a nonce of the previous life) arrives.
    let seen: string | undefined | null = null;
    expect(c.read(old, 'r2', 'k', (o) => (seen = o.kind === 'value' ? (o.item?.value ?? undefined) : 'dropped'))).toMatchObject({ ok: true });
    c.flush();
    expect(c.network.release(c.now)).toBe(1);
    c.runTicks(3 * ELECTION);
    // With the nonce restarting at 0, the held answer confirmed the read and it returned 'old', after 'new' was acknowledged.
    expect(seen).not.toBe('old');
    expect(seen).toBe('dropped'); // cut off, it cannot confirm anything: check-quorum steps it down and the read is dropped
  });
});
