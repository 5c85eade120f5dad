import { describe, expect, it } from 'vitest';
import type { SimCluster, SimMember } from '../../sim/cluster.ts';
import { ELECTION, member, storyCluster } from '../../sim/stories.ts';

// Minority forcible start-up (DCF work_mode minority with vote_num), as a story
// checked by the safety checker after every Ready.

const three = (): SimMember[] => [member(1, { priority: 2 }), member(2, { priority: 1 }), member(3)];

/**
 * Replica 3 is cut off, 1 and 2 decide one more write ('lost') without it, then
 * 1 and 2 are lost. An operator forces 3 to go on alone (vote_num 1).
 */
function lostMajority(): { c: SimCluster; epoch: number } {
  const c = storyCluster(three(), 21);
  c.runUntil(() => c.leaderId() === 1 && c.converged(), 10 * ELECTION, 'replica 1 leads');
  for (let i = 0; i < 10; i++) expect(c.write(`k${i}`, `v${i}`)).not.toBeNull();
  c.runUntil(() => c.converged(), 10 * ELECTION, 'everyone holds k9');
  c.network.isolate(3, c.ids);
  expect(c.write('lost', 'acknowledged by 1 and 2 only')).toMatchObject({ kind: 'put', ok: true });
  c.crash(1);
  c.crash(2);
  c.network.heal();
  expect(c.write('blocked', 'x', 10 * ELECTION)).toBeNull(); // one of three: no quorum
  const epoch = c.forceMinority([3], 1);
  c.runUntil(() => c.leaderId() === 3, 10 * ELECTION, 'replica 3 leads alone');
  expect(c.write('forced', 'decided by 3 alone')).toMatchObject({ kind: 'put', ok: true });
  return { c, epoch };
}

/** Rebuild `id` in place: a new incarnation as a learner (decided by whoever leads), then a wipe into it. */
function rebuildAsLearner(c: SimCluster, id: number): void {
  const leader = c.leaderId()!;
  const incarnation = c.replica(leader).core!.status().configuration.members.find((m) => m.id === id)!.incarnation ?? 1;
  expect(c.startRebuild(leader, id).ok).toBe(true);
  c.flush();
  c.runUntil(() => (c.reconcileRebuilds(), c.replica(id).core?.status().incarnation === incarnation + 1), 10 * ELECTION, `replica ${id} to be wiped into a new incarnation`);
}

/** Make learner `id` a follower again through whoever leads, once it has caught up. */
function promote(c: SimCluster, id: number): void {
  c.runUntil(
    () => {
      const leader = c.leaderId();
      if (leader === null) return false;
      const config = c.replica(leader).core!.status().configuration;
      if (config.members.find((m) => m.id === id)?.role === 'electable') return true;
      c.reconfigure(leader, { members: config.members.map((m) => (m.id === id ? { ...m, role: 'electable' as const } : m)), policy: config.policy });
      return false;
    },
    20 * ELECTION,
    `replica ${id} to catch up and vote again`,
  );
}

describe('cluster: minority force-start', () => {
  it('cluster: work mode: survivors of a lost majority go on alone; the lost replicas come back fenced, are rebuilt, and re-introduce nothing', () => {
    const { c, epoch } = lostMajority();
    const st = c.replica(3).core!.status();
    expect(st).toMatchObject({ epoch: 1, quorumOverride: { voters: [3], voteNum: 1 } });
    // Everything 3 held survives; the write only the lost majority accepted is gone (the documented loss).
    expect(c.replica(3).sm.get('k9')?.value).toBe('v9');
    expect(c.replica(3).sm.get('lost')).toBeUndefined();
    // The lost replicas return with their forked history: the first contact with 3 fences them.
    c.restart(1);
    c.restart(2);
    c.runUntil(() => c.replica(1).core!.status().fenced && c.replica(2).core!.status().fenced, 10 * ELECTION, 'the returning replicas to be fenced');
    expect(c.leaderId()).toBe(3);
    expect(c.write('after-return', 'y')).toMatchObject({ kind: 'put', ok: true });
    expect(c.replica(1).core!.ticksUntilNextTimer()).toBeNull(); // a fenced replica does nothing
    // Rebuilt in place while still in minority mode: a new incarnation as a learner (decided by the survivor) and
    // a wipe into the new epoch; the survivor sends a snapshot and the log. Voting again waits for normal mode.
    for (const id of [1, 2]) rebuildAsLearner(c, id);
    const leader = c.leaderId()!;
    const config = c.replica(leader).core!.status().configuration;
    const promoteNow = c.reconfigure(leader, { members: config.members.map((m) => (m.id === 1 ? { ...m, role: 'electable' as const } : m)), policy: config.policy });
    expect(promoteNow).toMatchObject({ ok: false, code: 'invalid-change', message: expect.stringMatching(/after returning to normal mode/) });
    c.normalMode();
    for (const id of [1, 2]) promote(c, id);
    c.runUntil(() => c.converged(), 20 * ELECTION, 'convergence on the survivor history');
    for (const id of [1, 2, 3]) {
      expect(c.replica(id).sm.get('forced')?.value).toBe('decided by 3 alone');
      expect(c.replica(id).sm.get('lost')).toBeUndefined();
      expect(c.replica(id).core!.status()).toMatchObject({ epoch, fenced: false, quorumOverride: null, memberRole: 'electable' });
    }
    c.crash(3);
    expect(c.write('majority-again', 'z')).toMatchObject({ kind: 'put', ok: true });
  });

  it('cluster: work mode: a replica added after a force-start joins the new epoch and catches up (it has no history to fence)', () => {
    // Found by the random campaign (a membership change after a minority drill): a new replica starts blank in
    // epoch 0, and the first message from the new epoch fenced it, so it never caught up and the stream never converged.
    const { c, epoch } = lostMajority();
    c.restart(1);
    c.restart(2);
    c.runUntil(() => c.replica(1).core!.status().fenced && c.replica(2).core!.status().fenced, 10 * ELECTION, 'the returning replicas to be fenced');
    for (const id of [1, 2]) rebuildAsLearner(c, id);
    c.normalMode();
    for (const id of [1, 2]) promote(c, id);
    const leader = c.leaderId()!;
    const config = c.replica(leader).core!.status().configuration;
    c.addReplica(member(4, { role: 'passive' }));
    expect(c.reconfigure(leader, { members: [...config.members, member(4, { role: 'passive' })], policy: config.policy }).ok).toBe(true);
    c.flush();
    c.runUntil(() => c.converged() && c.replica(4).core!.status().appliedThrough === c.replica(leader).core!.status().decidedThrough, 20 * ELECTION, 'the new replica to catch up');
    expect(c.replica(4).core!.status()).toMatchObject({ epoch, fenced: false, memberRole: 'passive' });
    expect(c.replica(4).sm.get('forced')?.value).toBe('decided by 3 alone');
  });

  it('cluster: work mode: a lost voter that never stored anything is still fenced (it must not join the new epoch with the configured quorums)', () => {
    // Found by the random campaign (seed 1852): lost replicas that had not yet promised anything joined the new
    // epoch as voters of the configured quorums while the survivor used vote_num 1: two quorum systems, one slot
    // decided twice.
    const c = storyCluster(three(), 25);
    c.crash(1);
    c.crash(2);
    c.runTicks(ELECTION);
    c.forceMinority([3], 1);
    c.runUntil(() => c.leaderId() === 3, 10 * ELECTION, 'replica 3 leads alone');
    expect(c.write('forced', 'x')).toMatchObject({ kind: 'put', ok: true });
    c.restart(1);
    expect(c.replica(1).core!.status()).toMatchObject({ promised: { round: 0 }, lastSlot: 0 }); // blank
    c.runUntil(() => c.replica(1).core!.status().fenced, 10 * ELECTION, 'the blank lost voter to be fenced');
    expect(c.replica(1).core!.status().epoch).toBe(0);
  });

  it('cluster: work mode: a fenced replica refuses an operator\'s promote and stays silent', () => {
    // Found by the random campaign: campaignNow made a fenced replica send pre-votes.
    const { c } = lostMajority();
    c.restart(1);
    c.runUntil(() => c.replica(1).core!.status().fenced, 10 * ELECTION, 'the returning replica to be fenced');
    const sent = c.network.sent;
    expect(c.replica(1).core!.campaignNow()).toMatchObject({ ok: false, code: 'invalid-target', message: expect.stringMatching(/fenced/) });
    c.flush();
    expect(c.network.sent).toBe(sent);
    expect(c.replica(1).core!.status()).toMatchObject({ role: 'follower', fenced: true });
  });

  it('cluster: work mode: vote_num must be a strict majority of the survivors; with one, message loss alone decides nothing twice', () => {
    // With 3 survivors and vote_num 1, any survivor that misses a few heartbeats elects itself alone and decides
    // slots the others never saw: two values for one slot with no partition at all. The core refuses it.
    const c = storyCluster([member(1), member(2), member(3)], 23);
    c.runUntil(() => c.leaderId() !== null && c.converged(), 10 * ELECTION, 'a leader');
    expect(() => c.forceMinority([1, 2, 3], 1)).toThrow(/vote_num 1 is not a majority of the 3 survivors/);
    expect(() => c.forceMinority([1, 2, 2], 1)).toThrow(/vote_num 1 is not a majority of the 2 survivors/); // each survivor counts once
    expect(() => c.replica(1).runner!.setWorkMode({ voters: [1, 2, 3, 4], voteNum: 2 }, 1)).toThrow(/not a majority/);
    for (const id of [1, 2, 3]) expect(c.replica(id).core!.status()).toMatchObject({ epoch: 0, quorumOverride: null });
    // A majority of the survivors is safe under the same loss (the safety checker runs after every Ready).
    c.forceMinority([1, 2, 3], 2);
    c.network.faults.lossRate = 0.3;
    c.network.faults.maxDelayTicks = 4;
    let written = 0;
    for (let i = 0; i < 100; i++) {
      if (c.write(`k${i % 3}`, `v${i}`, 20 * ELECTION) !== null) written += 1;
      c.runTicks(5); // time for heartbeats to go missing (with vote_num 1 this found two values for slot 34)
    }
    expect(written).toBeGreaterThan(50);
    expect(c.safety.decidedSlots).toBeGreaterThan(written);
  });

  it('cluster: work mode: a minority mode stored with a vote_num below a majority restarts with the smallest majority', () => {
    const c = storyCluster([member(1), member(2), member(3)], 24);
    c.runUntil(() => c.leaderId() !== null && c.converged(), 10 * ELECTION, 'a leader');
    c.crash(2);
    c.replica(2).backing.meta.set('work-mode', JSON.stringify({ voters: [1, 2, 3, 3], voteNum: 1 })); // written by an older version
    c.restart(2);
    expect(c.replica(2).core!.status().quorumOverride).toEqual({ voters: [1, 2, 3], voteNum: 2 });
  });

  it('cluster: work mode: vote_num must be between 1 and the number of survivors named', () => {
    const c = storyCluster(three(), 22);
    c.runUntil(() => c.leaderId() === 1, 10 * ELECTION, 'replica 1 leads');
    expect(() => c.replica(1).runner!.setWorkMode({ voters: [1, 2], voteNum: 3 }, 1)).toThrow(/vote_num 3 must be between 1 and the 2 replicas named/);
    expect(() => c.replica(1).runner!.setWorkMode({ voters: [1], voteNum: 0 }, 1)).toThrow(RangeError);
    expect(c.replica(1).core!.status().epoch).toBe(0);
  });
});
