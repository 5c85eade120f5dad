import { describe, expect, it } from 'vitest';
import { MemoryStorage } from '../../src/host/memory-storage.ts';
import { ClockedHost } from '../../src/host/clocked-host.ts';
import { HostCluster, THREE_REPLICAS as STREAM } from './host-cluster.ts';

describe('host: wake-ups that come late', () => {
  it('every replica held back for seconds (alarms late, nothing sent meanwhile) keeps its leader', async () => {
    const c = new HostCluster(STREAM);
    await c.run(2_000);
    expect(c.leaders()).toEqual([{ id: 1, round: expect.any(Number) }]);
    const [before] = c.leaders();
    expect(await c.write(1, 'a')).toBe('applied');

    // Local workerd holds alarms back while another object is under load: nothing runs for 2.4 s,
    // then every held alarm fires, the followers' first.
    c.now += 2_400;
    await c.fireDue([3, 2, 1]);
    await c.run(1_000);

    expect(c.leaders()).toEqual([before]);
    expect(await c.write(1, 'b')).toBe('applied');
    const late = [...c.hosts.values()].map((h) => h.metrics().late_wakeups);
    expect(late.every((n) => n === 1)).toBe(true);
  });

  it('a leader that really died is still replaced when every wake-up comes late', async () => {
    // Replica 3 is a logger (votes, never leads): replica 2 alone must notice the dead leader.
    const c = new HostCluster({ ...STREAM, replicas: [STREAM.replicas[0], STREAM.replicas[1], { id: 3, region: 'apac', role: 'logger' }] });
    await c.run(2_000);
    const [before] = c.leaders();
    expect(before?.id).toBe(1);
    c.down.add(1);
    // Every alarm 200 ms late (beyond a heartbeat interval): a replica forgives at most one
    // late wake-up per two election timeouts, so it still notices the dead leader.
    await c.run(3_000, 200);
    const after = c.leaders();
    expect(after).toEqual([{ id: 2, round: expect.any(Number) }]);
    expect(after[0]!.round).toBeGreaterThan(before!.round);
    expect(c.hosts.get(2)!.metrics().late_wakeups).toBeGreaterThan(0);
  });

  it('wake-ups on time are not counted as late', async () => {
    const c = new HostCluster(STREAM);
    await c.run(3_000);
    expect([...c.hosts.values()].map((h) => h.metrics().late_wakeups)).toEqual([0, 0, 0]);
  });
});

describe('host: cost counters', () => {
  it('are stored when a replica goes quiet, so an idle replica evicted and started again keeps counting from them', async () => {
    const c = new HostCluster({ ...STREAM, quiesce_after_ms: 500 });
    await c.run(1_000);
    expect(await c.write(1, 'a')).toBe('applied');
    await c.run(3_000);
    const follower = c.hosts.get(2)!;
    expect(follower.view().quiescent).toBe(true);
    const before = follower.metrics();
    expect(before.rpcs_received).toBeGreaterThan(0);
    expect(before.storage_transactions).toBeGreaterThan(0);

    // The same storage under a new host: what workerd does after evicting an idle object.
    const again = new ClockedHost({
      stream: c.stream,
      replicaId: 2,
      storage: new MemoryStorage(c.storages.get(2)!.backing),
      seed: 2,
      now: () => c.now,
      scheduleWake: () => {},
      background: () => {},
      transport: { send: async () => [] },
    });
    const { flow_inflight_max: _a, ...kept } = again.metrics();
    const { flow_inflight_max: _b, ...counted } = before;
    expect(kept).toEqual(counted);
  });
});

describe('host: structured logs', () => {
  it('a replica that never campaigns logs leader_lost, naming the leader and why, when that leader goes silent', async () => {
    // Replicas 2 and 3 are loggers: nobody can take over, so each forgets leader 1 on its own timer.
    const c = new HostCluster({ ...STREAM, replicas: STREAM.replicas.map((r) => (r.id === 1 ? r : { ...r, role: 'logger' })) });
    await c.run(1_000);
    expect(c.leaders().map((l) => l.id)).toEqual([1]);
    expect(c.logs.filter((e) => e.event === 'leader_lost')).toEqual([]);
    c.down.add(1);
    await c.run(1_000);
    const lost = c.logs.filter((e) => e.event === 'leader_lost');
    expect(lost.map((e) => e.replica).sort()).toEqual([2, 3]);
    for (const e of lost) {
      expect(e).toEqual(expect.objectContaining({ from: 'follower', to: 'follower', leader_id: null, why: expect.stringMatching(/^leader 1 silent for \d+ ticks; a logger never campaigns$/) }));
    }
  });

  it('elections, a switchover and a refused operator request are logged with the core\'s reasons, the request id of the call that caused them, and no line per write', async () => {
    const c = new HostCluster(STREAM);
    await c.run(1_000);
    const won = c.logs.filter((e) => e.event === 'election_won');
    expect(won).toEqual([expect.objectContaining({ stream: 's', replica: 1, term: 1, from: 'candidate', to: 'leader', why: expect.stringMatching(/^promises of .* are a quorum$/) })]);
    expect(c.logs.filter((e) => e.event === 'new_leader').map((e) => e.replica).sort()).toEqual([2, 3]);

    const before = c.logs.length;
    for (let i = 0; i < 10; i++) expect(await c.write(1, `k${i}`)).toBe('applied');
    expect(c.logs.slice(before)).toEqual([]); // nothing per successful write
    expect(c.hosts.get(1)!.metrics()).toMatchObject({ proposals: 10, elections_won: 1, leader_changes: 1 });

    const refused = c.hosts.get(1)!.serving('req-7', () => c.hosts.get(1)!.operate({ kind: 'switchover', target: 9, timeoutMs: 1000 }));
    expect(refused.ok).toBe(false);
    expect(c.logs.at(-1)).toEqual(expect.objectContaining({ event: 'refused', replica: 1, request_id: 'req-7', what: 'switchover', why: 'invalid-target: replica 9 is not a member of this stream' }));

    c.hosts.get(1)!.serving('req-8', () => c.hosts.get(1)!.operate({ kind: 'switchover', target: 2, timeoutMs: 1000 }));
    await c.run(1_000);
    expect(c.logs).toContainEqual(expect.objectContaining({ event: 'step_down', replica: 1, from: 'leader', to: 'follower', why: 'prepare 2.2 from 2 outranks our leader ballot' }));
    expect(c.logs.filter((e) => e.event === 'election_won').map((e) => e.replica)).toEqual([1, 2]);
    expect(c.logs.filter((e) => e.event !== 'refused').every((e) => e.request_id === undefined)).toBe(true); // they happened after the call returned
    expect(c.hosts.get(3)!.metrics().leader_changes).toBe(2);
  });
});
