import { describe, expect, it, vi } from 'vitest';
import type { WriteOutcome } from '../../src/host/clocked-host.ts';
import { HostCluster, THREE_REPLICAS as STREAM } from './host-cluster.ts';

// Write gathering (ClockedHost.write): writes that come while others wait are proposed together.

async function ready(c: HostCluster): Promise<void> {
  await c.run(2_000);
  expect(c.leaders().map((l) => l.id)).toEqual([1]);
}

function put(c: HostCluster, at: number, key: string, timeoutMs = 10_000): Promise<WriteOutcome> {
  return c.hosts.get(at)!.write({ kind: 'put', id: `${key}-cmd`, key, value: key, idempotencyKey: `${key}-ik` }, timeoutMs);
}

/** Let the writes' messages go round until nothing is in flight, advancing time a little so the leader's timers run. */
async function settleAll(c: HostCluster): Promise<void> {
  await c.settle();
  await c.run(200);
  await c.settle();
}

describe('host: write gathering', () => {
  it('a lone write is proposed at once; writes that come while it waits share one input, each with its own result', async () => {
    const c = new HostCluster(STREAM, { gather: true });
    await ready(c);
    const leader = c.hosts.get(1)!;
    const before = leader.metrics();
    const outcomes = ['a', 'b', 'c', 'd', 'e'].map((k) => put(c, 1, k));
    await settleAll(c);
    const results = await Promise.all(outcomes);
    expect(results.map((o) => o.kind)).toEqual(['applied', 'applied', 'applied', 'applied', 'applied']);
    const revisions = results.map((o) => (o.kind === 'applied' ? (o.result as { revision: number }).revision : -1));
    expect(new Set(revisions).size).toBe(5); // five writes, five revisions, in the order they came
    expect([...revisions].sort((x, y) => x - y)).toEqual(revisions);
    const after = leader.metrics();
    expect(after.proposals - before.proposals).toBe(5);
    // The first alone (nothing waited), the other four together.
    expect(after.proposal_inputs - before.proposal_inputs).toBe(2);
    for (const k of ['a', 'b', 'c', 'd', 'e']) expect(c.hosts.get(2)!.getLocal(k)?.value).toBe(k);
  });

  it('an idle replica proposes a lone write at once; after a group, the next write waits for company once', async () => {
    const c = new HostCluster(STREAM, { gather: true });
    await ready(c);
    const host = c.hosts.get(1)!;
    /** Make a write; whether it was proposed at once (it waits at the replica) or held to be gathered. */
    const write = (k: string): { outcome: Promise<WriteOutcome>; atOnce: boolean } => {
      const before = host.metrics().proposals;
      const outcome = put(c, 1, k);
      return { outcome, atOnce: host.metrics().proposals > before };
    };
    const alone = write('a');
    expect(alone.atOnce).toBe(true);
    await settleAll(c);
    expect((await alone.outcome).kind).toBe('applied');

    const group = ['b', 'c', 'd'].map(write);
    expect(group.map((w) => w.atOnce)).toEqual([true, false, false]); // b alone, c and d together
    await settleAll(c);
    expect((await Promise.all(group.map((w) => w.outcome))).map((o) => o.kind)).toEqual(['applied', 'applied', 'applied']);

    const afterGroup = write('e'); // idle, but the last input had company: held
    expect(afterGroup.atOnce).toBe(false);
    await settleAll(c);
    expect((await afterGroup.outcome).kind).toBe('applied');

    const next = write('f'); // the last input was alone: at once again
    expect(next.atOnce).toBe(true);
    await settleAll(c);
    expect((await next.outcome).kind).toBe('applied');
  });

  it('writes a follower refuses count no proposal input', async () => {
    const c = new HostCluster(STREAM, { gather: true });
    await ready(c);
    const follower = c.hosts.get(2)!;
    const outcomes = await Promise.all(['a', 'b', 'c'].map((k) => put(c, 2, k)));
    expect(outcomes.map((o) => o.kind)).toEqual(['not-leader', 'not-leader', 'not-leader']);
    expect(follower.metrics()).toMatchObject({ proposals: 0, proposal_inputs: 0, proposals_failed_not_leader: 3 });
  });

  it('without a defer (no gathering), every write has an input of its own', async () => {
    const c = new HostCluster(STREAM);
    await ready(c);
    const leader = c.hosts.get(1)!;
    const before = leader.metrics();
    const outcomes = ['a', 'b', 'c'].map((k) => put(c, 1, k));
    await settleAll(c);
    expect((await Promise.all(outcomes)).map((o) => o.kind)).toEqual(['applied', 'applied', 'applied']);
    expect(leader.metrics().proposal_inputs - before.proposal_inputs).toBe(3);
  });

  it('a gathered write keeps its own timeout: with no quorum, each ends outcome-unknown at its own deadline', async () => {
    const c = new HostCluster(STREAM, { gather: true });
    await ready(c);
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    try {
      c.down.add(2);
      c.down.add(3);
      const leader = c.hosts.get(1)!;
      const ended: Record<string, WriteOutcome> = {};
      const track = (k: string, timeoutMs: number): void => void put(c, 1, k, timeoutMs).then((o) => (ended[k] = o));
      track('a', 60_000);
      track('b', 100); // gathered behind a
      track('c', 5_000); // gathered behind a
      await c.settle();
      expect(leader.metrics().proposal_inputs).toBe(2); // a alone, then b and c together
      c.now += 150;
      await vi.advanceTimersByTimeAsync(150);
      expect(ended).toEqual({ b: { kind: 'outcome-unknown' } });
      c.now += 5_000;
      await vi.advanceTimersByTimeAsync(5_000);
      expect(ended).toEqual({ b: { kind: 'outcome-unknown' }, c: { kind: 'outcome-unknown' } });
      expect(leader.metrics().proposals_failed_outcome_unknown).toBe(2);
    } finally {
      vi.useRealTimers();
    }
  });

  it('gathered writes over the leader\'s queue limit are refused one by one, the rest applied', async () => {
    const c = new HostCluster({ ...STREAM, queue_max: 3 }, { gather: true });
    await ready(c);
    const outcomes = ['a', 'b', 'c', 'd', 'e'].map((k) => put(c, 1, k));
    await settleAll(c);
    const kinds = (await Promise.all(outcomes)).map((o) => o.kind);
    expect(kinds).toEqual(['applied', 'applied', 'applied', 'overloaded', 'overloaded']);
    expect(c.hosts.get(1)!.metrics().proposals_failed_overloaded).toBe(2);
  });

  it('a bug while proposing gathered writes fails every one of them (in a Durable Object the failure crashes the replica), none is left waiting', async () => {
    const c = new HostCluster(STREAM, { gather: true });
    await ready(c);
    const host = c.hosts.get(1)!;
    const first = put(c, 1, 'a');
    // A broken invariant met while proposing the second gathered write.
    const runner = (host as unknown as { runner: { propose: (cmd: { id: string }, settle: unknown) => unknown } }).runner;
    const propose = runner.propose.bind(runner);
    runner.propose = (cmd, settle) => {
      if (cmd.id === 'c-cmd') throw new Error('injected: a bug');
      return propose(cmd, settle);
    };
    const settled = await Promise.allSettled([put(c, 1, 'b'), put(c, 1, 'c')]);
    expect(settled.map((s) => s.status)).toEqual(['rejected', 'rejected']);
    expect(String((settled[0] as PromiseRejectedResult).reason)).toContain('injected');
    await settleAll(c);
    expect((await first).kind).toBe('applied');
  });

  it('writes gathered at a replica retired meanwhile are dropped (never proposed), not left waiting', async () => {
    const c = new HostCluster(STREAM, { gather: true });
    await ready(c);
    const first = put(c, 1, 'a');
    const gathered = [put(c, 1, 'b'), put(c, 1, 'c')];
    c.hosts.get(1)!.retire();
    expect(await Promise.all(gathered)).toEqual([{ kind: 'dropped' }, { kind: 'dropped' }]);
    expect(c.hosts.get(1)!.metrics().proposals_failed_dropped).toBe(2);
    void first;
  });
});
