import { describe, expect, it } from 'vitest';
import { admin, api, eventually, put, replica, stableLeader, status, streamConfig } from './helpers.ts';

// Thrifty replication (`replication: "thrifty"`, src/core/thrifty.ts) on real Durable Objects: the
// leader sends each accept batch to its nearest follower only, the other (trailing) follower catches
// up in the heartbeat's RPC, and a batch the nearest follower does not answer in time is hedged to the
// other. The simulator checks the lag bound and the hedge under every fault (docs/simulation.md);
// this checks that the host runs them. No timed assertions: the stated lag (one heartbeat interval
// plus a round trip) is the simulator's to check; here the trailing follower must catch up with no
// further write, which only the heartbeat's catch-up can do.
const S = 'thrifty';
const identity = (id: number) => ({ stream: S, replicaId: id });

async function metrics(id: number) {
  const m = await replica(S, id).metrics(identity(id));
  if (m.kind !== 'ok') throw new Error(`metrics of replica ${id}: ${JSON.stringify(m)}`);
  return m.metrics;
}

/** `writers` closed-loop writers, `each` writes apiece, every one acknowledged (put throws otherwise); the highest revision. */
async function load(prefix: string, writers: number, each: number): Promise<number> {
  const revisions = await Promise.all(
    Array.from({ length: writers }, async (_, w) => {
      let last = 0;
      for (let i = 0; i < each; i++) last = await put(S, `${prefix}-${w}`, `v${i}`);
      return last;
    }),
  );
  return Math.max(...revisions);
}

describe('cluster: thrifty replication', () => {
  it('cluster: thrifty replication: writes at concurrency 1, 4 and 16 are acknowledged, each goes to the nearest follower only, and the trailing follower catches up by the heartbeat with no further write', async () => {
    const leader = await stableLeader(S);
    const followers = streamConfig(S).replicas.map((r) => r.id).filter((id) => id !== leader);
    await load('warm', 1, 4); // the leader measures its followers' round trips
    for (const [writers, each] of [
      [1, 32],
      [4, 8],
      [16, 3],
    ] as const) {
      const before = new Map(await Promise.all(followers.map(async (id) => [id, (await metrics(id)).rpcs_received] as const)));
      const last = await load(`c${writers}`, writers, each);
      const leading = await metrics(leader);
      expect(leading.nearest_quorum, `c=${writers}: the leader's nearest quorum`).toHaveLength(1);
      const nearest = leading.nearest_quorum![0]!;
      const trailing = followers.find((id) => id !== nearest)!;
      if (writers === 1) {
        // One batch per write: the nearest follower gets each (and the heartbeats), the trailing one
        // only the heartbeats (and a hedge now and then); full replication would send both every batch.
        const got = async (id: number) => (await metrics(id)).rpcs_received - before.get(id)!;
        expect(await got(trailing), `c=1: RPCs to trailing follower ${trailing} vs nearest follower ${nearest}`).toBeLessThan(await got(nearest));
      }
      // No write from here on: the trailing follower learns the last one from the leader's heartbeats.
      await eventually(`c=${writers}: trailing follower ${trailing} applied revision ${last}`, async () => {
        const s = await status(S);
        return s.nodes.find((n: any) => n.node_id === trailing).applied_index >= last;
      });
      const read = await replica(S, trailing).get(identity(trailing), `c${writers}-0`, 'stale', 0);
      expect(read, `c=${writers}: stale read at the trailing follower`).toMatchObject({ kind: 'ok', value: { key: `c${writers}-0`, value: `v${each - 1}` } });
    }
  });

  it('cluster: thrifty replication: when the follower it relies on crashes mid-load, writes keep being acknowledged (sent to the other follower), and a linearizable read afterwards sees the last of them', async () => {
    const leader = await stableLeader(S);
    await load('pre', 1, 4);
    const nearest = (await metrics(leader)).nearest_quorum;
    expect(nearest).toHaveLength(1);
    const victim = nearest![0]!;
    const downMs = 5_000;
    let crashed = false;
    let afterCrash = 0;
    // Four closed-loop writers; the first crashes the nearest follower after its third write, with the
    // others' writes in flight. (The crash is ordered from a writer, not from a timer beside them: a
    // timer in the test's isolate waited behind the writers' back-to-back calls.)
    const lasts = await Promise.all(
      Array.from({ length: 4 }, async (_, w) => {
        let last = { revision: 0, value: '' };
        for (let i = 0; i < 12; i++) {
          const value = `v${i}`;
          last = { revision: await put(S, `kill-${w}`, value), value }; // put throws unless acknowledged
          if (crashed) afterCrash += 1;
          if (w === 0 && i === 2) {
            const crash = await api('POST', `/v1/streams/${S}/chaos`, { action: 'crash', replica: victim, down_ms: downMs }, admin);
            expect(crash).toEqual({ status: 200, body: { crashed: victim, down_ms: downMs } });
            crashed = true;
          }
        }
        return last;
      }),
    );
    expect(afterCrash, 'writes acknowledged after the crash (at least the crashing writer\'s last nine)').toBeGreaterThanOrEqual(9);
    // The victim was down through all of them (it answers 'down' until its down time ends): they were decided without it.
    const asleep = await replica(S, victim).status(identity(victim));
    expect(asleep, `replica ${victim} still down after the last write`).toMatchObject({ kind: 'error', code: 'down' });
    for (const [w, last] of lasts.entries()) {
      const res = await api('GET', `/v1/streams/${S}/kv/kill-${w}`);
      expect(res, `linearizable read of kill-${w}`).toEqual({ status: 200, body: { key: `kill-${w}`, value: last.value, revision: last.revision } });
    }
  });
});
