import { describe, expect, it } from 'vitest';
import type { KvResult } from '../../src/kv/index.ts';
import type { SimCluster, SimMember } from '../../sim/cluster.ts';
import { ELECTION, member, storyCluster } from '../../sim/stories.ts';

// Operator controls (DCF promote_leader, RUN_MODE; Patroni switchover), as
// stories checked by the safety checker after every Ready.


const cluster = storyCluster;

/** A put through the leader that must be applied. */
function write(c: SimCluster, key: string, value: string): KvResult {
  const r = c.write(key, value, 30 * ELECTION);
  if (!r) throw new Error(`write ${key} not applied`);
  return r;
}

const three = (): SimMember[] => [member(1, { priority: 3 }), member(2, { priority: 2 }), member(3, { priority: 1 })];

describe('cluster: switchover', () => {
  it('cluster: switchover: leadership moves to the named replica after it catches up, and nothing is lost', () => {
    const c = cluster(three(), 1);
    c.runUntil(() => c.leaderId() === 1, 10 * ELECTION, 'replica 1 leads');
    c.crash(3);
    for (let i = 0; i < 30; i++) write(c, `k${i}`, `v${i}`);
    c.restart(3); // far behind: the switchover must wait for it
    expect(c.replica(1).core!.transferLeadership(3)).toEqual({ ok: true, target: 3 });
    c.runUntil(() => c.leaderId() === 3, 10 * ELECTION, 'replica 3 leads');
    // An operator's choice sticks: fail-back to priority 3 waits for the next election.
    c.runTicks(10 * ELECTION);
    expect(c.leaderId()).toBe(3);
    write(c, 'after', 'x');
    c.runUntil(() => c.converged(), 10 * ELECTION, 'convergence');
    for (const id of c.ids) expect(c.replica(id).sm.get('k29')?.value).toBe('v29');
  });

  it('cluster: switchover: a logger or passive target, or a non-leader, is refused with a reason', () => {
    const c = cluster([member(1, { priority: 1 }), member(2), member(3, { role: 'logger' }), member(4, { role: 'passive' })], 2);
    c.runUntil(() => c.leaderId() === 1 && c.converged(), 10 * ELECTION, 'replica 1 leads and everyone knows');
    expect(c.replica(1).core!.transferLeadership(3)).toMatchObject({ ok: false, code: 'invalid-target', message: 'replica 3 is a logger and can never lead' });
    expect(c.replica(1).core!.transferLeadership(4)).toMatchObject({ ok: false, message: 'replica 4 is a passive replica and can never lead' });
    expect(c.replica(1).core!.transferLeadership(9)).toMatchObject({ ok: false, message: 'replica 9 is not a member of this stream' });
    expect(c.replica(2).core!.transferLeadership(1)).toMatchObject({ ok: false, code: 'not-leader', leaderHint: 1 });
  });

  it('cluster: switchover: if the target never takes over, the leader gives up and writes resume', () => {
    const c = cluster(three(), 3);
    c.runUntil(() => c.leaderId() === 1, 10 * ELECTION, 'replica 1 leads');
    c.network.isolate(2, c.ids); // the target cannot be reached
    expect(c.replica(1).core!.transferLeadership(2, 3 * ELECTION).ok).toBe(true);
    c.runUntil(() => c.replica(1).core!.status().transferringTo === null, 5 * ELECTION, 'the transfer to be abandoned');
    expect(c.leaderId()).toBe(1);
    expect(write(c, 'resumed', 'y')).toMatchObject({ kind: 'put', ok: true });
  });

  it('cluster: step-down: the leader hands over to the best other replica', () => {
    const c = cluster(three(), 4);
    c.runUntil(() => c.leaderId() === 1, 10 * ELECTION, 'replica 1 leads');
    expect(c.replica(1).core!.stepDown()).toEqual({ ok: true, target: 2 });
    c.runUntil(() => c.leaderId() === 2, 10 * ELECTION, 'replica 2 leads');
  });
});

describe('cluster: run mode', () => {
  it('cluster: run mode: with automatic elections off nobody campaigns; an operator promotes a replica', () => {
    const c = cluster(three(), 5);
    c.runUntil(() => c.leaderId() === 1, 10 * ELECTION, 'replica 1 leads');
    write(c, 'before', '1');
    c.setAutoElection(false);
    c.crash(1);
    c.runTicks(30 * ELECTION);
    expect(c.leaderId()).toBeNull();
    expect(c.replica(3).core!.campaignNow()).toEqual({ ok: true, target: 3 });
    c.runUntil(() => c.leaderId() === 3, 5 * ELECTION, 'replica 3 leads');
    expect(write(c, 'after', '2')).toMatchObject({ kind: 'put', ok: true });
    expect(c.replica(3).sm.get('before')?.value).toBe('1');
    // Back to automatic: replica 1 returns and, by priority, leads again.
    c.setAutoElection(true);
    c.restart(1);
    c.runUntil(() => c.leaderId() === 1, 30 * ELECTION, 'replica 1 leads again');
  });
});
