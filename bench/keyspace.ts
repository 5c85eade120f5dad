/**
 * Keyspace measures in a discrete-event model (the simulator's
 * single-threaded-server-per-object model): every Durable Object is one
 * FIFO server that spends a stated cost per request, messages take the WAN
 * model's one-way delays (src/host/regions.ts), and the router (a Worker)
 * costs nothing, since Workers scale out.
 *
 * Stated costs, per object: a leader spends LEADER_WRITE_MS on each client
 * write (1 ms: Cloudflare documents about a thousand requests a second per
 * object) and ACCEPTED_MS on each follower's reply; a follower spends
 * FOLLOWER_ACCEPT_MS on each accept. A write is decided when the leader has
 * its own accept and one follower's (3 replicas).
 *
 * - scaling: closed-loop clients (CLIENTS_PER_SHARD per shard) write uniformly
 *   random keys, routed by the product's hash and even map; aggregate decided
 *   writes/s of N shards ÷ (N × one stream's).
 * - cross-shard latency: with leaders spread over wnam, weur and apac, clients
 *   in each of those regions; a cross-shard transaction (two random shards)
 *   is the router's protocol: prepares in parallel, then the decision at the
 *   coordinator shard, answered then (resolves follow). Its p50 ÷ a
 *   single-shard write's p50.
 */
import { SeededRng } from '../src/core/index.ts';
import { regionRttMs } from '../src/host/regions.ts';
import type { Region } from '../src/host/regions.ts';
import { DEFAULT_FOLLOW, evenMap, shardOfKey } from '../src/kv/index.ts';
import { type SimMember, SimCluster } from '../sim/cluster.ts';

export const LEADER_WRITE_MS = 1;
export const ACCEPTED_MS = 0.1;
export const FOLLOWER_ACCEPT_MS = 0.3;
export const CLIENTS_PER_SHARD = 32;

/** One single-threaded object: work queued in arrival order, each item taking its cost. */
class Server {
  freeAt = 0;

  /** Start `costMs` of work that arrives at `at`; when it is done. */
  serve(at: number, costMs: number): number {
    const start = Math.max(at, this.freeAt);
    this.freeAt = start + costMs;
    return this.freeAt;
  }
}

interface ShardServers {
  readonly leader: Server;
  readonly followers: readonly Server[];
  readonly regions: readonly Region[];
  readonly leaderRegion: Region;
}

/** Event-ordered simulation: a heap would be faster; arrays sorted on insert suffice at these sizes. */
class Events {
  private queue: { at: number; n: number; run: (at: number) => void }[] = [];
  private n = 0;

  add(at: number, run: (at: number) => void): void {
    const item = { at, n: this.n++, run };
    let lo = 0;
    let hi = this.queue.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      const q = this.queue[mid]!;
      if (q.at < at || (q.at === at && q.n < item.n)) lo = mid + 1;
      else hi = mid;
    }
    this.queue.splice(lo, 0, item);
  }

  runUntil(end: number): void {
    while (this.queue.length > 0 && this.queue[0]!.at <= end) {
      const e = this.queue.shift()!;
      e.run(e.at);
    }
  }
}

const oneWay = (a: Region, b: Region): number => regionRttMs(a, b) / 2;

/**
 * One write at a shard, from a Worker in `from` arriving at `at`: to the
 * leader, its cost there, accepts to the followers (their cost), replies
 * back (the leader's cost), decided at the first follower's reply, answered.
 * Calls `done` with the time the Worker has the answer.
 */
function write(ev: Events, s: ShardServers, from: Region, at: number, done: (at: number) => void): void {
  ev.add(at + oneWay(from, s.leaderRegion), (t) => {
    const proposed = s.leader.serve(t, LEADER_WRITE_MS);
    let decided = false;
    s.followers.forEach((f, i) => {
      const region = s.regions[i]!;
      ev.add(proposed + oneWay(s.leaderRegion, region), (t2) => {
        const accepted = f.serve(t2, FOLLOWER_ACCEPT_MS);
        ev.add(accepted + oneWay(region, s.leaderRegion), (t3) => {
          const counted = s.leader.serve(t3, ACCEPTED_MS);
          if (decided) return;
          decided = true;
          ev.add(counted + oneWay(s.leaderRegion, from), done);
        });
      });
    });
  });
}

/** `n` shards of one replica per region in `regions`; with `spread`, shard i is led from region i mod 3 (leaders: spread). */
function shardsOf(n: number, regions: readonly Region[], spread: boolean): ShardServers[] {
  return Array.from({ length: n }, (_, i) => {
    const lead = spread ? i % regions.length : 0;
    const others = regions.filter((_, j) => j !== lead);
    return { leader: new Server(), followers: others.map(() => new Server()), regions: others, leaderRegion: regions[lead]! };
  });
}

export interface ScalingRow {
  readonly shards: number;
  readonly writesPerSec: number;
  readonly ratio: number;
}

/** Decided writes/s of `shards` shards in one region under closed-loop uniform load, over `windowMs` after `warmupMs`. */
export function keyspaceThroughput(shards: number, windowMs: number, warmupMs: number, seed: number): number {
  const rng = new SeededRng(seed);
  const regions: Region[] = ['weur', 'weur', 'weur'];
  const servers = shardsOf(shards, regions, false);
  const map = evenMap(shards);
  const ev = new Events();
  let decided = 0;
  const clients = CLIENTS_PER_SHARD * shards;
  const next = (at: number): void => {
    const key = `user-${rng.nextU32() % 1_000_000}`;
    write(ev, servers[shardOfKey(map, key)]!, 'weur', at, (t) => {
      if (t > warmupMs && t <= warmupMs + windowMs) decided += 1;
      next(t);
    });
  };
  for (let c = 0; c < clients; c++) next(0);
  ev.runUntil(warmupMs + windowMs);
  return (decided * 1000) / windowMs;
}

export function keyspaceScaling(windowMs: number, seed: number): ScalingRow[] {
  const one = keyspaceThroughput(1, windowMs, 200, seed);
  return [1, 4, 16, 64].map((n) => {
    const writesPerSec = n === 1 ? one : keyspaceThroughput(n, windowMs, 200, seed);
    return { shards: n, writesPerSec, ratio: writesPerSec / (n * one) };
  });
}

export interface CrossShardLatency {
  readonly singleP50Ms: number;
  readonly crossP50Ms: number;
  readonly ratio: number;
  readonly samples: number;
}

/**
 * p50 of single-shard writes and of two-shard transactions, light load
 * (no queueing), leaders spread over wnam, weur and apac, Workers in each.
 */
export function crossShardLatency(samples: number, seed: number): CrossShardLatency {
  const rng = new SeededRng(seed);
  const regions: Region[] = ['wnam', 'weur', 'apac'];
  const shards = 3;
  const single: number[] = [];
  const cross: number[] = [];
  let at = 0;
  for (let i = 0; i < samples; i++) {
    const from = regions[rng.nextU32() % 3]!;
    // Fresh servers each sample: latency without queueing.
    const servers = shardsOf(shards, regions, true);
    const ev = new Events();
    const a = rng.nextU32() % shards;
    write(ev, servers[a]!, from, at, (t) => single.push(t - at));
    ev.runUntil(Infinity);
    const b = (a + 1 + (rng.nextU32() % (shards - 1))) % shards;
    const participants = [a, b].sort((x, y) => x - y);
    // The router's choice of coordinator: the shard whose leader is nearest the Worker (any shard of the keyspace; participants first on a tie).
    const all = Array.from({ length: shards }, (_, k) => k);
    const rank = (k: number): number => oneWay(from, servers[k]!.leaderRegion) * 2 + (participants.includes(k) ? 0 : 1);
    const coordinator = all.sort((x, y) => rank(x) - rank(y) || x - y)[0]!;
    const start = at;
    let prepared = 0;
    let phase1 = 0;
    for (const p of participants) {
      write(ev, servers[p]!, from, start, (t) => {
        phase1 = Math.max(phase1, t);
        prepared += 1;
        // Phase 2 once every vote is in: the decision at the coordinator (the lowest participant).
        if (prepared === participants.length) write(ev, servers[coordinator]!, from, phase1, (t2) => cross.push(t2 - start));
      });
    }
    ev.runUntil(Infinity);
    at += 1000;
  }
  const p50 = (xs: number[]): number => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)]!;
  const s = p50(single);
  const c = p50(cross);
  return { singleP50Ms: s, crossP50Ms: c, ratio: c / s, samples };
}

export interface FollowLatency {
  readonly spreadP50Ms: number;
  readonly followP50Ms: number;
  readonly ratio: number;
  /** Writes measured per configuration. */
  readonly samples: number;
  /** Shards whose writers were in their spread leader's region. */
  readonly localUnderSpread: number;
  readonly shards: number;
}

/** The WAN simulator's follow run: 10 ms ticks, the DO host's 1 s election timeout and 200 ms heartbeat. */
const FOLLOW_TICK_MS = 10;
const FOLLOW_ELECTION_TICKS = 100;
/** Light load (20 writes/s per shard): latency without queueing behind the leader's pipeline limit. */
const FOLLOW_WRITE_EVERY_TICKS = 5;

/**
 * `leaders: follow` vs `spread` in the WAN simulator (sim/cluster.ts, the
 * real replicas and traffic follower): six shards of three replicas in wnam,
 * weur and apac, priorities as `leaders: spread` gives shard i, each shard
 * written from one region only (shards 0-1 from wnam, 2-3 from weur, 4-5 from
 * apac, so two of six are local under spread), one write every 50 ms with
 * its origin (light load: no queueing). A write's latency is the Worker's trip to the leader and back (half
 * the regions' round trip each way) plus proposal to applied at the leader.
 * Measured over the last `measureTicks` of `warmupTicks + measureTicks`.
 */
export function followLatency(warmupTicks: number, measureTicks: number, seed: number): FollowLatency {
  const regions: Region[] = ['wnam', 'weur', 'apac'];
  const shards = 6;
  const run = (follow: boolean): number[] => {
    const latencies: number[] = [];
    for (let i = 0; i < shards; i++) {
      const writer = regions[Math.floor(i / 2) % 3]!;
      const lead = i % 3;
      const rank = (r: number): number => (r - lead + 3) % 3;
      const members: SimMember[] = regions.map((region, r) => ({ id: r + 1, role: 'electable', priority: 10 * (3 - rank(r)), weight: 1, group: 0, region }));
      const c = new SimCluster({
        replicas: members,
        rng: new SeededRng(seed * 1000 + i),
        tickMs: FOLLOW_TICK_MS,
        timing: { electionTimeoutTicks: FOLLOW_ELECTION_TICKS, heartbeatIntervalTicks: 20, retransmitTicks: 40 },
        network: { minDelayTicks: 0, maxDelayTicks: 0 },
        ...(follow ? { follow: { ...DEFAULT_FOLLOW, cooldownTicks: 5 * FOLLOW_ELECTION_TICKS } } : {}),
      });
      let n = 0;
      for (let t = 0; t < warmupTicks + measureTicks; t++) {
        const leader = c.leaderId();
        if (leader !== null && t % FOLLOW_WRITE_EVERY_TICKS === 0) {
          const region = members[leader - 1]!.region as Region;
          const sentAt = c.now;
          const measured = t >= warmupTicks;
          c.propose(leader, { kind: 'put', id: `w${++n}`, key: `k${n % 64}`, value: 'v', origin: writer }, (o) => {
            if (measured && o.kind === 'applied') latencies.push((c.now - sentAt) * FOLLOW_TICK_MS + regionRttMs(writer, region));
          });
        }
        c.tick();
      }
    }
    return latencies;
  };
  const p50 = (xs: number[]): number => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)]!;
  const spread = run(false);
  const follow = run(true);
  const localUnderSpread = Array.from({ length: shards }, (_, i) => Math.floor(i / 2) % 3 === i % 3).filter(Boolean).length;
  return { spreadP50Ms: p50(spread), followP50Ms: p50(follow), ratio: p50(follow) / p50(spread), samples: Math.min(spread.length, follow.length), localUnderSpread, shards };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  for (const r of keyspaceScaling(2000, 1)) console.log(`${r.shards} shards: ${r.writesPerSec.toFixed(0)} writes/s, ratio ${r.ratio.toFixed(3)}`);
  const l = crossShardLatency(400, 1);
  console.log(`single p50 ${l.singleP50Ms.toFixed(1)} ms, cross p50 ${l.crossP50Ms.toFixed(1)} ms, ratio ${l.ratio.toFixed(2)}`);
  const f = followLatency(3000, 3000, 1);
  console.log(`follow p50 ${f.followP50Ms.toFixed(1)} ms, spread p50 ${f.spreadP50Ms.toFixed(1)} ms, ratio ${f.ratio.toFixed(2)} (${f.samples} writes each)`);
}
