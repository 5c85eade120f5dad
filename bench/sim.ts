/**
 * The measurements made in the deterministic simulator (test/sim): commit
 * latency under the WAN model of src/host/regions.ts, throughput at 100 ms
 * round trips against zero latency, and failover in ticks. Every cluster is
 * built from a stream configuration parsed by the product's own schema, so
 * members, priorities, policy and timings in ticks are exactly what a
 * replica Durable Object would run with.
 */
import { type ClientCommand, type ReplicaId, DEFAULT_THRIFTY, DEFAULT_TIMING, SeededRng } from '../src/core/index.ts';
import { type StreamConfig, parseClusterConfig, streamConfiguration, streamMembers, streamPriority, streamTiming } from '../src/host/config.ts';
import { regionRttMs } from '../src/host/regions.ts';
import { type SimMember, SimCluster } from '../sim/cluster.ts';

/** Parse one stream's configuration (as it would appear in EDGEPAXOS_CONFIG) with the product's schema. */
export function parseStream(raw: Record<string, unknown>): StreamConfig {
  const stream = parseClusterConfig({ streams: [raw] }).streams[0];
  if (!stream) throw new Error('parseStream: no stream');
  return stream;
}

export interface SimNetworkShape {
  /** Pin members to their configured regions (one-way delay = half the regions' round trip). */
  readonly regions: boolean;
  /** Extra one-way delay of every message, in ticks (0: delivered at the next tick). */
  readonly oneWayTicks: number;
}

/**
 * A simulated cluster running `stream` as a Durable Object host would: its
 * members, policy, priorities and timings, its replication mode, and its flow
 * control (the adaptive controller per replica, or the fixed pipeline depth).
 */
export function clusterFor(stream: StreamConfig, seed: number, network: SimNetworkShape): SimCluster {
  const members: SimMember[] = streamMembers(stream).map(({ region: _, ...m }) => {
    const region = stream.replicas.find((r) => r.id === m.id)?.region;
    return network.regions && region ? { ...m, region } : m;
  });
  return new SimCluster({
    replicas: members,
    policy: streamConfiguration(stream).policy,
    priority: streamPriority(stream),
    tickMs: stream.tick_ms,
    rng: new SeededRng(seed),
    timing: { ...streamTiming(stream), ...(stream.flow_control.mode === 'fixed' ? { inflightMax: stream.flow_control.inflight_max } : {}) },
    network: { minDelayTicks: network.oneWayTicks, maxDelayTicks: network.oneWayTicks },
    adaptiveFlow: stream.flow_control.mode === 'adaptive',
    ...(stream.replication === 'thrifty' ? { thrifty: DEFAULT_THRIFTY } : {}),
  });
}

/** Run until one replica leads, everything is decided and applied everywhere; returns the leader. */
function settle(c: SimCluster, maxTicks: number): ReplicaId {
  c.runUntil(() => c.converged(), maxTicks, 'a settled cluster');
  return c.leaderId()!;
}

/**
 * The round trip from `leader` to the nearest set of acceptors that, with the
 * leader, forms a phase-2 quorum of the policy: the least any protocol needs
 * to decide a value proposed at that leader.
 */
export function fastestQuorumRttMs(c: SimCluster, stream: StreamConfig, leader: ReplicaId): number {
  const regionOf = new Map(stream.replicas.map((r) => [r.id, r.region]));
  const here = regionOf.get(leader)!;
  const others = c.quorum.voters.filter((v) => v !== leader);
  let best = Number.POSITIVE_INFINITY;
  for (let mask = 0; mask < 1 << others.length; mask++) {
    const chosen = others.filter((_, i) => (mask >> i) & 1);
    if (!c.quorum.isPhase2Quorum(new Set([leader, ...chosen]))) continue;
    const rtt = Math.max(0, ...chosen.map((id) => regionRttMs(here, regionOf.get(id)!)));
    best = Math.min(best, rtt);
  }
  return best;
}

interface SteadyStream {
  /** Commit latency (proposal to applied at the leader) of proposals made inside the window, in ticks. */
  readonly latenciesTicks: number[];
  /** Commands applied at the leader inside the window. */
  readonly decidedInWindow: number;
  readonly refused: number;
}

/**
 * An open-loop client: `ratePerTick` proposals per tick at the leader, each
 * handed to the core at once as a Durable Object host would on a write call,
 * for `warmupTicks + windowTicks`; then `drainTicks` more so that proposals of
 * the window can finish.
 */
function steadyStream(c: SimCluster, ratePerTick: number, warmupTicks: number, windowTicks: number, drainTicks: number, everyTick?: () => void): SteadyStream {
  const windowStart = c.now + warmupTicks;
  const windowEnd = windowStart + windowTicks;
  const latenciesTicks: number[] = [];
  let decidedInWindow = 0;
  let refused = 0;
  let credit = 0;
  let seq = 0;
  const propose = (): void => {
    const leader = c.leaderId();
    if (leader === null) {
      refused += 1;
      return;
    }
    const at = c.now;
    const n = seq++;
    const command: ClientCommand = { kind: 'put', id: `bench-${n}`, key: `k${n % 64}`, value: 'v'.repeat(64) };
    const res = c.propose(leader, command, (o) => {
      if (o.kind !== 'applied') return;
      if (at >= windowStart && at < windowEnd) latenciesTicks.push(c.now - at);
      if (c.now >= windowStart && c.now < windowEnd) decidedInWindow += 1;
    });
    if (!res.ok) refused += 1;
    c.drain(c.replica(leader));
  };
  c.runTicks(warmupTicks + windowTicks, () => {
    everyTick?.();
    credit += ratePerTick;
    while (credit >= 1) {
      credit -= 1;
      propose();
    }
  });
  c.runTicks(drainTicks);
  return { latenciesTicks, decidedInWindow, refused };
}

// ------------------------------------------------------------------ WAN commit latency

export interface WanLatencyResult {
  readonly name: string;
  readonly leader: ReplicaId;
  readonly leaderRegion: string;
  readonly quorumRttMs: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly samples: number;
}

/**
 * Commit latency under the WAN model at a steady `ratePerSec`, against the
 * round trip to the fastest policy quorum. One tick is 1 ms here, so the
 * simulated network is as fine as the model.
 */
export function wanCommitLatency(name: string, raw: Record<string, unknown>, ratePerSec: number, windowMs: number, seed: number): WanLatencyResult {
  const stream = parseStream({ ...raw, tick_ms: 1 });
  const c = clusterFor(stream, seed, { regions: true, oneWayTicks: 0 });
  const leader = settle(c, 60 * streamTiming(stream).electionTimeoutTicks);
  const run = steadyStream(c, ratePerSec / 1000, 1000, windowMs, 5000);
  const sorted = [...run.latenciesTicks].sort((a, b) => a - b);
  return {
    name,
    leader,
    leaderRegion: stream.replicas.find((r) => r.id === leader)!.region,
    quorumRttMs: fastestQuorumRttMs(c, stream, leader),
    p50Ms: percentile(sorted, 50) * stream.tick_ms,
    p99Ms: percentile(sorted, 99) * stream.tick_ms,
    samples: sorted.length,
  };
}

// ------------------------------------------------------------------ thrifty replication under the WAN model

export interface WanFollowerResult {
  readonly name: string;
  readonly replication: 'full' | 'thrifty';
  /** Per follower (voters only): how long after the leader it knew each slot decided, p50 and max in ms. */
  readonly lagMs: readonly { readonly replica: ReplicaId; readonly region: string; readonly p50Ms: number; readonly maxMs: number }[];
  /** Messages the leader sent (accepts, catch-ups, heartbeats) per command per follower in the window. */
  readonly messagesPerCommandPerFollower: number;
  /** p50 and p99 commit latency of a steady run with no fault. */
  readonly p50Ms: number;
  readonly p99Ms: number;
  /** The same run, with the follower the leader counts on first crashed for good a quarter into the window: p99, and the crashed replica. */
  readonly killedP99Ms: number;
  readonly killedP50Ms: number;
  readonly killed: ReplicaId;
}

/**
 * Under the WAN model at a steady `ratePerSec`: each voter's lag behind the
 * leader (when it learned each slot decided, against when the leader did),
 * the accept and heartbeat messages per command per follower, and the p99
 * commit latency when the follower the leader counts on first (thrifty: its
 * nearest quorum's first member; full: the nearest by round trip) crashes
 * mid-window and stays down.
 */
export function wanFollowers(name: string, raw: Record<string, unknown>, ratePerSec: number, windowMs: number, seed: number): WanFollowerResult {
  const stream = parseStream({ ...raw, tick_ms: 1 });
  const ticks = 60 * streamTiming(stream).electionTimeoutTicks;
  // A steady run, watching every replica's decided prefix each tick.
  const c = clusterFor(stream, seed, { regions: true, oneWayTicks: 0 });
  const leader = settle(c, ticks);
  const regionOf = new Map(stream.replicas.map((r) => [r.id, r.region]));
  const voters = streamMembers(stream).filter((m) => m.id !== leader && m.role !== 'passive').map((m) => m.id);
  const decidedAt = new Map<ReplicaId, number[]>([leader, ...voters].map((id) => [id, []]));
  const start = c.replica(leader).core!.status().decidedThrough;
  const windowStart = c.now + 1000;
  let sentBefore = 0;
  let sentAfter = 0;
  const countSent = (): number => c.replica(leader).sentThisLife;
  const run = steadyStream(c, ratePerSec / 1000, 1000, windowMs, 5000, () => {
    if (c.now === windowStart) sentBefore = countSent();
    if (c.now === windowStart + windowMs) sentAfter = countSent();
    for (const id of [leader, ...voters]) {
      const d = c.replica(id).core?.status().decidedThrough ?? 0;
      const seen = decidedAt.get(id)!;
      while (start + seen.length < d) seen.push(c.now);
    }
  });
  const commands = run.decidedInWindow;
  const leaderAt = decidedAt.get(leader)!;
  const lagMs = voters.map((id) => {
    const mine = decidedAt.get(id)!;
    const lags = mine.slice(0, leaderAt.length).map((t, i) => (t - leaderAt[i]!) * stream.tick_ms).sort((a, b) => a - b);
    return { replica: id, region: regionOf.get(id)!, p50Ms: percentile(lags, 50), maxMs: lags[lags.length - 1] ?? Number.NaN };
  });
  const healthy = [...run.latenciesTicks].sort((a, b) => a - b);
  // Every message the leader sent in the window (accepts, catch-ups, heartbeats), per command per follower.
  const messagesPerCommandPerFollower = (sentAfter - sentBefore) / Math.max(1, commands) / voters.length;

  // The same, with the first follower the leader counts on crashed a quarter into the window.
  const k = clusterFor(stream, seed, { regions: true, oneWayTicks: 0 });
  const kLeader = settle(k, ticks);
  const crashAt = k.now + 1000 + Math.floor(windowMs / 4);
  const here = regionOf.get(kLeader)!;
  const byRtt = voters.filter((id) => id !== kLeader).sort((a, b) => regionRttMs(here, regionOf.get(a)!) - regionRttMs(here, regionOf.get(b)!) || a - b);
  let killed: ReplicaId = byRtt[0]!;
  const killedRun = steadyStream(k, ratePerSec / 1000, 1000, windowMs, 5000, () => {
    if (k.now !== crashAt) return;
    killed = k.replica(kLeader).core?.status().nearestQuorum?.[0] ?? killed;
    k.crash(killed, 'bench: the nearest follower');
  });
  const hurt = [...killedRun.latenciesTicks].sort((a, b) => a - b);
  return {
    name,
    replication: stream.replication,
    lagMs,
    messagesPerCommandPerFollower,
    p50Ms: percentile(healthy, 50) * stream.tick_ms,
    p99Ms: percentile(healthy, 99) * stream.tick_ms,
    killedP50Ms: percentile(hurt, 50) * stream.tick_ms,
    killedP99Ms: percentile(hurt, 99) * stream.tick_ms,
    killed,
  };
}

// ------------------------------------------------------------------ throughput against round-trip time

export interface WanThroughputResult {
  readonly offeredPerSec: number;
  readonly zeroLatencyPerSec: number;
  readonly rtt100PerSec: number;
  /** Round trip of the "zero latency" run: one tick each way, the simulator's floor. */
  readonly zeroRttMs: number;
  /** inflightMax x batchMax / 100 ms (the core's DEFAULT_TIMING, which the host uses): what the pipeline can carry at most. */
  readonly pipelineCeilingPerSec: number;
}

/**
 * Decided commands per second of a three-replica stream under a steady
 * offered load, with 100 ms round trips between every pair and with none.
 * The simulator has no CPU cost, so throughput at zero latency is the offered
 * load; the question is whether pipelining carries it across 100 ms.
 */
export function wanThroughput(raw: Record<string, unknown>, offeredPerSec: number, windowMs: number, seed: number): WanThroughputResult {
  const stream = parseStream({ ...raw, tick_ms: 1 });
  const run = (oneWayTicks: number): number => {
    const c = clusterFor(stream, seed, { regions: false, oneWayTicks });
    settle(c, 60 * streamTiming(stream).electionTimeoutTicks);
    const r = steadyStream(c, offeredPerSec / 1000, 1000, windowMs, 2000);
    return (r.decidedInWindow * 1000) / windowMs;
  };
  return {
    offeredPerSec,
    zeroLatencyPerSec: run(0),
    rtt100PerSec: run(50),
    zeroRttMs: 2,
    pipelineCeilingPerSec: (DEFAULT_TIMING.inflightMax * DEFAULT_TIMING.batchMax * 1000) / 100,
  };
}

// ------------------------------------------------------------------ failover

export interface SimFailoverResult {
  readonly trials: number;
  readonly ticks: number[];
  readonly tickMs: number;
  readonly goalTicks: number;
  readonly failures: number;
}

/**
 * Crash the leader of a settled, busy stream and count the ticks until a
 * write proposed at the next leader is decided. The client is ideal: it
 * proposes at a new leader the tick it appears, so this is the protocol's
 * own failover time.
 */
export function simFailover(raw: Record<string, unknown>, trials: number, firstSeed: number): SimFailoverResult {
  const stream = parseStream(raw);
  const timing = streamTiming(stream);
  const ticks: number[] = [];
  let failures = 0;
  for (let seed = firstSeed; seed < firstSeed + trials; seed++) {
    const c = clusterFor(stream, seed, { regions: false, oneWayTicks: 1 });
    try {
      settle(c, 60 * timing.electionTimeoutTicks);
      steadyStream(c, 1, 0, 20, 0); // busy: writes in flight when it crashes
      const crashed = c.leaderId()!;
      c.crash(crashed, 'bench');
      const crashedAt = c.now;
      let pending = false;
      let decidedAt: number | null = null;
      let n = 0;
      c.runUntil(
        () => decidedAt !== null,
        100 * timing.electionTimeoutTicks,
        'a decided write after the leader crashed',
        () => {
          const leader = c.leaderId();
          if (pending || leader === null) return;
          pending = true;
          const res = c.propose(leader, { kind: 'put', id: `probe-${n++}`, key: 'probe', value: 'x' }, (o) => {
            pending = false;
            if (o.kind === 'applied' && decidedAt === null) decidedAt = c.now;
          });
          if (!res.ok) pending = false;
          else c.drain(c.replica(leader));
        },
      );
      ticks.push(decidedAt! - crashedAt);
    } catch {
      failures += 1;
    }
  }
  return { trials, ticks, tickMs: stream.tick_ms, goalTicks: timing.electionTimeoutTicks + 2 * timing.heartbeatIntervalTicks, failures };
}

/** Nearest-rank percentile of an ascending array (NaN if empty). */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[Math.min(sorted.length, rank) - 1]!;
}
