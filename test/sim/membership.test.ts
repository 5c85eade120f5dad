import { describe, expect, it } from 'vitest';
import type { Configuration, Member, ReplicaId } from '../../src/core/index.ts';
import type { KvResult } from '../../src/kv/index.ts';
import type { ProposalOutcome } from '../../src/host/ready-runner.ts';
import type { SimCluster, SimMember } from '../../sim/cluster.ts';
import { ELECTION, member, storyCluster } from '../../sim/stories.ts';

// Online membership changes (DCF add/remove member, change role, priority,
// group, weight) as stories checked by the safety checker after every Ready,
// then a seeded campaign that mixes them with every fault.

const cluster = storyCluster;

function write(c: SimCluster, key: string, value: string, maxTicks = 30 * ELECTION): KvResult | null {
  return c.write(key, value, maxTicks);
}

function mustWrite(c: SimCluster, key: string, value: string): KvResult {
  const r = write(c, key, value);
  if (!r) throw new Error(`write ${key} not applied`);
  return r;
}

/** The leader's configuration with `edit` applied to its members. */
function edited(c: SimCluster, edit: (members: Member[]) => Member[]): Configuration {
  const config = c.replica(c.leaderId()!).core!.status().configuration;
  return { members: edit([...config.members]), policy: config.policy };
}

/** Propose a change at the leader and run until its outcome is known there. */
function reconfigure(c: SimCluster, configuration: Configuration): ProposalOutcome {
  let outcome: ProposalOutcome | null = null;
  const r = c.reconfigure(c.leaderId()!, configuration, (o) => (outcome = o));
  if (!r.ok) throw new Error(`change refused: ${r.message}`);
  c.flush();
  c.runUntil(() => outcome !== null, 20 * ELECTION, 'the change to be decided');
  return outcome!;
}

function voters(c: SimCluster, id: ReplicaId): ReplicaId[] {
  return c.replica(id).core!.status().configuration.members.filter((m) => m.role !== 'passive').map((m) => m.id);
}

const three = (): SimMember[] => [member(1, { priority: 2 }), member(2, { priority: 1 }), member(3)];

describe('cluster: membership changes', () => {
  it('cluster: membership: a new replica joins as a learner, catches up, is promoted, and then its acceptance is needed', () => {
    const c = cluster(three(), 1);
    c.runUntil(() => c.leaderId() === 1, 10 * ELECTION, 'replica 1 leads');
    for (let i = 0; i < 20; i++) mustWrite(c, `k${i}`, `v${i}`);
    c.addReplica(member(4, { role: 'passive' }));
    expect(reconfigure(c, edited(c, (ms) => [...ms, member(4, { role: 'passive' })]))).toEqual({ kind: 'applied', result: expect.objectContaining({ kind: 'config' }) });
    c.runUntil(() => c.replica(4).core!.status().appliedThrough === c.replica(1).core!.status().decidedThrough, 10 * ELECTION, 'the learner to catch up');
    expect(c.replica(4).sm.get('k19')?.value).toBe('v19');
    expect(c.replica(4).core!.status().memberRole).toBe('passive');
    c.runTicks(ELECTION); // the leader hears of it with the next heartbeat replies
    // Promoted: four voters, so a decision needs three of them.
    expect(reconfigure(c, edited(c, (ms) => ms.map((m) => (m.id === 4 ? { ...m, role: 'electable' } : m)))).kind).toBe('applied');
    c.runUntil(() => c.replica(4).core!.status().memberRole === 'electable', 5 * ELECTION, 'replica 4 to learn it votes');
    expect(voters(c, 1)).toEqual([1, 2, 3, 4]);
    c.crash(2);
    c.crash(4);
    expect(write(c, 'needs-4', 'x', 10 * ELECTION)).toBeNull(); // 1 and 3 are two of four
    c.restart(4);
    expect(mustWrite(c, 'with-4', 'y')).toMatchObject({ kind: 'put', ok: true });
    c.restart(2);
    c.runUntil(() => c.converged(), 20 * ELECTION, 'convergence');
    for (const id of [1, 2, 3, 4]) expect(c.replica(id).sm.get('with-4')?.value).toBe('y');
  });

  it('cluster: membership: unsafe or premature changes are refused with a reason, and nothing changes', () => {
    const c = cluster(three(), 2);
    c.runUntil(() => c.leaderId() === 1 && c.converged(), 10 * ELECTION, 'replica 1 leads');
    const leader = c.replica(1).core!;
    const change = (edit: (ms: Member[]) => Member[]) => c.reconfigure(1, edited(c, edit));
    // A new replica cannot vote before it has caught up as a learner.
    expect(change((ms) => [...ms, member(4)])).toMatchObject({ ok: false, code: 'invalid-change', message: expect.stringMatching(/joins as passive/) });
    // The leader is never removed or demoted in place: it hands over first.
    expect(change((ms) => ms.filter((m) => m.id !== 1))).toMatchObject({ ok: false, code: 'invalid-change', message: expect.stringMatching(/hand leadership over first/) });
    // Nothing to change.
    expect(change((ms) => ms)).toMatchObject({ ok: false, code: 'invalid-change' });
    // Two voters down: removing a live one would leave no quorum that can answer.
    c.crash(3);
    c.runTicks(2 * ELECTION); // the leader notices 3 is silent
    expect(change((ms) => ms.filter((m) => m.id !== 2))).toMatchObject({ ok: false, code: 'would-block' });
    c.restart(3);
    c.runUntil(() => c.converged(), 10 * ELECTION, 'convergence');
    // A learner that is not answering is not promoted.
    c.addReplica(member(4, { role: 'passive' }));
    c.crash(4);
    expect(reconfigure(c, edited(c, (ms) => [...ms, member(4, { role: 'passive' })])).kind).toBe('applied');
    expect(change((ms) => ms.map((m) => (m.id === 4 ? { ...m, role: 'electable' } : m)))).toMatchObject({ ok: false, code: 'would-block' });
    // One change at a time.
    expect(change((ms) => ms.map((m) => (m.id === 3 ? { ...m, priority: 5 } : m))).ok).toBe(true);
    expect(change((ms) => ms.map((m) => (m.id === 2 ? { ...m, priority: 5 } : m)))).toMatchObject({ ok: false, code: 'change-in-progress' });
    // Only the leader changes the configuration.
    expect(c.reconfigure(2, edited(c, (ms) => ms))).toMatchObject({ ok: false, code: 'not-leader', leaderHint: 1 });
    expect(leader.status().configuration.members.map((m) => m.id)).toEqual([1, 2, 3, 4]);
  });

  it('cluster: membership: a change that leaves a required group without a voter is refused', () => {
    const c = cluster([member(1, { priority: 1, group: 1 }), member(2, { group: 2 }), member(3, { group: 2 })], 3, { policy: { requireGroups: [1, 2] } });
    c.runUntil(() => c.leaderId() === 1 && c.converged(), 10 * ELECTION, 'replica 1 leads');
    expect(c.reconfigure(1, edited(c, (ms) => ms.map((m) => (m.id === 2 || m.id === 3 ? { ...m, group: 3 } : m))))).toMatchObject({
      ok: false,
      code: 'invalid-change',
      message: 'group 2 has no voter, so nothing could ever be decided',
    });
  });

  it('cluster: membership: a removed follower stops counting, learns it was removed, and goes quiet', () => {
    const four = [member(1, { priority: 2 }), member(2, { priority: 1 }), member(3), member(4)];
    const c = cluster(four, 4);
    c.runUntil(() => c.leaderId() === 1 && c.converged(), 10 * ELECTION, 'replica 1 leads');
    c.crash(4); // removed while down: it cannot hear about it
    expect(reconfigure(c, edited(c, (ms) => ms.filter((m) => m.id !== 4))).kind).toBe('applied');
    // Three voters now: 1 and 2 decide alone (two of four could not).
    c.crash(3);
    expect(mustWrite(c, 'without-3-and-4', 'z')).toMatchObject({ kind: 'put', ok: true });
    c.restart(3);
    c.restart(4);
    // Replica 4 still believes it votes; its campaign makes the leader tell it what it missed.
    c.runUntil(() => c.replica(4).core!.status().memberRole === 'none', 20 * ELECTION, 'replica 4 to learn its removal');
    c.runTicks(3 * ELECTION);
    expect(c.replica(4).core!.ticksUntilNextTimer()).toBeNull();
    expect(c.replica(4).core!.status().role).toBe('follower');
    expect(c.leaderId()).toBe(1);
  });

  it('cluster: membership: removing the leader takes a hand-over first, then the new leader removes it', () => {
    const c = cluster(three(), 5);
    c.runUntil(() => c.leaderId() === 1 && c.converged(), 10 * ELECTION, 'replica 1 leads');
    expect(c.reconfigure(1, edited(c, (ms) => ms.filter((m) => m.id !== 1))).ok).toBe(false);
    expect(c.replica(1).core!.transferLeadership(2)).toEqual({ ok: true, target: 2 });
    c.runUntil(() => c.leaderId() === 2, 10 * ELECTION, 'replica 2 leads');
    expect(reconfigure(c, edited(c, (ms) => ms.filter((m) => m.id !== 1))).kind).toBe('applied');
    mustWrite(c, 'after', '1');
    // The removed replica never campaigns again, whatever its priority.
    c.runTicks(20 * ELECTION);
    expect(c.leaderId()).toBe(2);
    expect(c.replica(1).core!.status().memberRole).toBe('none');
    expect(voters(c, 2)).toEqual([2, 3]);
  });

  it('cluster: membership: a priority change moves leadership by fail-back', () => {
    const c = cluster(three(), 6);
    c.runUntil(() => c.leaderId() === 1 && c.converged(), 10 * ELECTION, 'replica 1 leads');
    expect(reconfigure(c, edited(c, (ms) => ms.map((m) => (m.id === 3 ? { ...m, priority: 9 } : m)))).kind).toBe('applied');
    c.runUntil(() => c.leaderId() === 3, 20 * ELECTION, 'replica 3 (now priority 9) leads');
    expect(mustWrite(c, 'k', 'v')).toMatchObject({ kind: 'put', ok: true });
  });

  // Why phase 1 needs a quorum of every configuration a candidate knows of.
  // Replica 1 leads and proposes to weigh itself 3 of 5 (enough to decide alone),
  // then is cut off before anyone else stores the change. 2 and 3 go on under
  // the old configuration and decide that slot differently. Replica 1 restarts
  // with the undecided change in its log and hears nothing from 2: counting only
  // the newest configuration it knows, it would elect itself alone and overwrite
  // what 2 and 3 decided.
  // (With the old rule - the planted bug elect-with-newest-configuration-only of sim/mutants.ts - safety breaks.)
  const story = (): SimCluster => {
    const c = cluster(three(), 7);
    c.runUntil(() => c.leaderId() === 1 && c.converged(), 10 * ELECTION, 'replica 1 leads');
    mustWrite(c, 'before', '1');
    const r = c.reconfigure(1, edited(c, (ms) => ms.map((m) => (m.id === 1 ? { ...m, weight: 3 } : m))));
    expect(r.ok).toBe(true);
    c.network.isolate(1, c.ids);
    c.flush();
    c.runUntil(() => c.replica(2).core!.status().role === 'leader', 20 * ELECTION, 'replica 2 leads');
    mustWrite(c, 'while-1-is-away', '2');
    c.crash(1);
    c.restart(1);
    c.runTicks(5 * ELECTION);
    c.network.heal();
    c.network.cutOneWay(2, 1); // 1 hears 3, but not the leader 2
    c.runTicks(20 * ELECTION);
    c.network.heal();
    c.runTicks(10 * ELECTION);
    return c;
  };

  it('cluster: membership: a candidate needs a quorum of every configuration it knows of', () => {
    const c = story();
    c.runUntil(() => c.converged(), 20 * ELECTION, 'convergence');
    for (const id of [1, 2, 3]) {
      expect(c.replica(id).sm.get('while-1-is-away')?.value).toBe('2');
      expect(c.replica(id).core!.status().configuration.members.every((m) => m.weight === 1)).toBe(true);
    }
  });
});
