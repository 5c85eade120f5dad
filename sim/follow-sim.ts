/**
 * The `leaders: follow` campaign: one shard under a traffic follower
 * (src/kv/traffic-follower.ts) in the WAN model, with a region-shifting
 * workload and faults, every knob drawn from the seed.
 *
 * - Topology: 3 to 5 electable replicas in distinct regions (sometimes a
 *   logger or a passive replica beside them), priorities as `leaders: spread`
 *   gives shard 0, one-way delays of half the regions' round trip.
 * - Workload: phases of several follower windows. A **local** phase writes
 *   mostly (80-100%) from one region; an **even** phase writes uniformly from
 *   every region with an electable replica. Each write carries its origin,
 *   as the router sends it, and goes to the leader of the moment.
 * - Faults (swarm: each on or off per seed): replica crashes and restarts
 *   (the leader half of the time), partitions, message loss, duplication and
 *   reordering.
 *
 * Checks:
 * - safety: the simulator's safety checker at every step (agreement,
 *   configuration changes one at a time, ...): a move is a configuration
 *   change, so the checker judges every one;
 * - no flapping: within an even phase, past its first windows (which still
 *   hold the previous phase's writes), the preference moves at most once;
 * - every move goes to a region with an electable replica that wrote most;
 * - following: after the faults are healed, a final local phase moves the
 *   preference to its region and the leader with it.
 */
import { type Configuration, type ReplicaId, SeededRng, chance, randomInt } from '../src/core/index.ts';
import type { Region } from '../src/host/regions.ts';
import { DEFAULT_FOLLOW, type FollowOptions, preferredRegion } from '../src/kv/traffic-follower.ts';
import { type SimMember, SimCluster } from './cluster.ts';
import { SafetyViolation } from './safety.ts';

const CANDIDATE_REGIONS: readonly Region[] = ['wnam', 'enam', 'weur', 'apac', 'oc'];
/** The DO host's defaults: 50 ms ticks, 1 s election timeout, 200 ms heartbeat. */
const TICK_MS = 50;
const ELECTION_TICKS = 20;

export interface FollowSimOptions {
  readonly seed: number;
  /** Phases before the final (healed) one. */
  readonly phases?: number;
}

export interface FollowSimResult {
  readonly ok: boolean;
  readonly check?: 'safety' | 'flapping' | 'move-target' | 'following' | 'exception';
  readonly message?: string;
  readonly writes: number;
  readonly moves: number;
  readonly phases: readonly string[];
  readonly reproduce: string;
}

interface Phase {
  readonly kind: 'local' | 'even';
  readonly region: Region | null;
  readonly writes: number;
  /** Share of writes from `region` in a local phase. */
  readonly share: number;
}

export function runFollowSim(options: FollowSimOptions): FollowSimResult {
  const { seed } = options;
  const rng = new SeededRng(seed);
  const reproduce = `npm run sim:follow -- --seed ${seed}`;
  const follow: FollowOptions = { ...DEFAULT_FOLLOW, cooldownTicks: 5 * ELECTION_TICKS };
  const window = follow.windowWrites;
  // Topology.
  const count = randomInt(rng, 3, 5);
  const regions = [...CANDIDATE_REGIONS];
  for (let i = regions.length - 1; i > 0; i--) {
    const j = randomInt(rng, 0, i);
    [regions[i], regions[j]] = [regions[j]!, regions[i]!];
  }
  const electableRegions = regions.slice(0, count);
  const members: SimMember[] = electableRegions.map((region, i) => ({ id: i + 1, role: 'electable', priority: 10 * (count - i), weight: 1, group: 0, region }));
  if (chance(rng, 0.3)) members.push({ id: count + 1, role: chance(rng, 0.5) ? 'logger' : 'passive', priority: 0, weight: 1, group: 0, region: regions[count % regions.length]! });
  // Faults (swarm).
  const crashes = chance(rng, 0.6);
  const partitions = chance(rng, 0.4);
  const lossRate = chance(rng, 0.5) ? rng.nextU32() / 2 ** 32 / 20 : 0;
  const duplicateRate = chance(rng, 0.3) ? 0.02 : 0;
  const cluster = new SimCluster({
    replicas: members,
    rng: new SeededRng(rng.nextU32()),
    tickMs: TICK_MS,
    timing: { electionTimeoutTicks: ELECTION_TICKS, heartbeatIntervalTicks: 4, retransmitTicks: 8 },
    network: { lossRate, duplicateRate, minDelayTicks: 0, maxDelayTicks: 1 },
    follow,
  });
  const writesPerTick = randomInt(rng, 1, 4);
  const phaseCount = options.phases ?? randomInt(rng, 4, 8);
  const phases: Phase[] = [];
  for (let p = 0; p < phaseCount; p++) {
    const local = chance(rng, 0.5);
    phases.push({ kind: local ? 'local' : 'even', region: local ? electableRegions[randomInt(rng, 0, count - 1)]! : null, writes: window * randomInt(rng, 4, 8), share: 0.8 + 0.2 * (rng.nextU32() / 2 ** 32) });
  }
  const described = phases.map((p) => (p.kind === 'local' ? `local ${p.region} ${Math.round(p.share * 100)}% x${p.writes}` : `even x${p.writes}`));
  let writes = 0;
  let moves = 0;
  let seq = 0;
  const fail = (check: NonNullable<FollowSimResult['check']>, message: string): FollowSimResult => ({
    ok: false,
    check,
    message: `${message}\n  topology: ${members.map((m) => `${m.id}:${m.region}${m.role === 'electable' ? '' : `(${m.role})`}`).join(' ')}; crashes ${crashes}, partitions ${partitions}, loss ${lossRate.toFixed(3)}, ${writesPerTick} writes/tick; phases: ${described.join(' | ')}`,
    writes,
    moves,
    phases: described,
    reproduce,
  });

  let preferred = preferredRegion(cluster.currentConfiguration());
  /** The origins of the latest proposed writes: a move must be to a region that wrote a good share of them. */
  const recent: string[] = [];
  const RECENT = 4 * window;
  const down = new Map<ReplicaId, number>();
  let partitionUntil = -1;

  /**
   * Observe the decided configuration: a change of preferred region is a
   * move. The follower moved only after its region wrote at least half of
   * each of its last windows, all of them among the latest 4 windows' worth
   * of proposals, so the target wrote at least a quarter of those.
   */
  const observe = (): { readonly target: string } | { readonly problem: string } | null => {
    const now = preferredRegion(cluster.currentConfiguration() as Configuration);
    if (now === preferred) return null;
    moves += 1;
    preferred = now;
    if (now === null || !members.some((m) => m.region === now && m.role === 'electable')) return { problem: `moved to '${now}', where no replica can lead` };
    const share = recent.filter((o) => o === now).length;
    if (4 * share < Math.min(recent.length, RECENT)) return { problem: `moved to ${now}, which wrote ${share} of the latest ${recent.length} writes` };
    return { target: now };
  };

  const faults = (): void => {
    const ids = members.map((m) => m.id);
    for (const [id, until] of down) {
      if (cluster.now >= until) {
        cluster.restart(id);
        down.delete(id);
      }
    }
    if (partitionUntil >= 0 && cluster.now >= partitionUntil) {
      cluster.network.heal();
      partitionUntil = -1;
    }
    if (crashes && down.size === 0 && chance(rng, 0.004)) {
      const leader = cluster.leaderId();
      const victim = leader !== null && chance(rng, 0.5) ? leader : ids[randomInt(rng, 0, ids.length - 1)]!;
      cluster.crash(victim);
      down.set(victim, cluster.now + randomInt(rng, 5, 8 * ELECTION_TICKS));
    }
    if (partitions && partitionUntil < 0 && chance(rng, 0.003)) {
      cluster.network.isolate(ids[randomInt(rng, 0, ids.length - 1)]!, ids);
      partitionUntil = cluster.now + randomInt(rng, 5, 6 * ELECTION_TICKS);
    }
  };

  /** Run one phase: `writes` writes (some may fail: a write is counted when it is proposed, as the router sends it). */
  type Problem = { readonly check: NonNullable<FollowSimResult['check']>; readonly message: string };
  const runPhase = (phase: Phase, withFaults: boolean, onMove: (target: string, writtenInPhase: number) => string | null): Problem | null => {
    let written = 0;
    let idle = 0;
    while (written < phase.writes) {
      if (withFaults) faults();
      const leader = cluster.leaderId();
      if (leader === null) {
        idle += 1;
        if (idle > 200 * ELECTION_TICKS) return { check: 'following', message: `no leader for ${idle} ticks` };
      } else {
        idle = 0;
        for (let w = 0; w < writesPerTick && written < phase.writes; w++) {
          const origin = phase.kind === 'local' && rng.nextU32() / 2 ** 32 < phase.share ? phase.region! : electableRegions[randomInt(rng, 0, count - 1)]!;
          const r = cluster.propose(leader, { kind: 'put', id: `w${++seq}`, key: `k${seq % 16}`, value: `v${seq}`, origin }, () => {});
          if (!r.ok) break;
          written += 1;
          writes += 1;
          recent.push(origin);
          if (recent.length > RECENT) recent.shift();
        }
      }
      cluster.tick();
      const moved = observe();
      if (moved !== null && 'problem' in moved) return { check: 'move-target', message: moved.problem };
      if (moved !== null) {
        const problem = onMove(moved.target, written);
        if (problem) return { check: 'flapping', message: problem };
      }
    }
    return null;
  };

  try {
    cluster.runUntil(() => cluster.leaderId() !== null, 50 * ELECTION_TICKS, 'a first leader');
    for (const [i, phase] of phases.entries()) {
      let lateMoves = 0;
      const problem = runPhase(phase, true, (target, written) => {
        // An even phase: its first windows may still hold the previous phase's writes (and a new leader starts counting afresh); later, at most one move.
        if (phase.kind === 'even' && written > (follow.confirmWindows + 1) * window) {
          lateMoves += 1;
          if (lateMoves > 1) return `the preference moved ${lateMoves} times (last to ${target}) within even phase ${i + 1}, ${written} writes in: flapping`;
        }
        return null;
      });
      if (problem !== null) return fail(problem.check, problem.message);
    }
    // Heal everything, then a final local phase must move the preference, and the leader, to its region.
    for (const id of down.keys()) cluster.restart(id);
    down.clear();
    cluster.network.heal();
    cluster.runUntil(() => cluster.leaderId() !== null, 50 * ELECTION_TICKS, 'a leader after healing');
    const target = electableRegions[randomInt(rng, 0, count - 1)]!;
    const last: Phase = { kind: 'local', region: target, writes: window * 6, share: 1 };
    described.push(`final local ${target} x${last.writes}`);
    cluster.runTicks(follow.cooldownTicks);
    const problem = runPhase(last, false, () => null);
    if (problem !== null) return fail(problem.check, problem.message);
    const led = (): Region | undefined => {
      const id = cluster.leaderId();
      return id === null ? undefined : members.find((m) => m.id === id)?.region;
    };
    cluster.runUntil(() => led() === target, 40 * ELECTION_TICKS, 'the leader in the followed region');
    if (preferred !== target) return fail('following', `after ${last.writes} writes from ${target} alone, the shard prefers ${preferred}`);
  } catch (e) {
    if (e instanceof SafetyViolation) return fail('safety', e.message);
    if (e instanceof Error && /a leader|the leader in the followed region/.test(e.message)) return fail('following', e.message);
    return fail('exception', String((e as Error).stack ?? e));
  }
  return { ok: true, writes, moves, phases: described, reproduce };
}
