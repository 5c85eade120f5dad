import {
  type Member,
  type Message,
  type Configuration,
  type PolicySpec,
  checkQuorumOverride,
  compileConfiguration,
  type ReplicaId,
  type Rng,
  chance,
  formatBallot,
  isElectable,
  isVoter,
  randomBelow,
  randomInt,
} from '../src/core/index.ts';
import { type SimCluster, guaranteedThrough } from './cluster.ts';
import type { Knobs } from './simulation.ts';
import { topPriority } from './topology.ts';
import type { Workload } from './workload.ts';

/**
 * How often each fault and operation happened in a run (or, summed, in a
 * campaign): the proof that a campaign really exercises what it claims.
 */
export type Counts = Record<string, number>;

/** Every counter a run reports, in the order a summary prints them (a run that did none still shows 0). */
export const COUNTERS = [
  'crash',
  'crash: of the leader',
  'crash: between persist and send',
  'region outage',
  'partition',
  'host stall',
  'host stall: forgiven',
  'clock: drifting replica',
  'clock: rate change',
  'message: long-tail delay',
  'message: held by the adversary',
  'held: delivered after leadership changed twice',
  'held: delivered to a restarted process',
  'held: delivered after election timeouts',
  'quiet period',
  'idle eviction',
  'quiet restart',
  'quiet restart: as leader',
  'operator: switchover',
  'operator: step-down',
  'operator: promote',
  'operator: run mode manual',
  'operator: run mode automatic',
  'operator: snapshot now',
  'snapshot installed',
  'client: refused (overloaded)',
  'client: dropped after a refusal',
  'membership: change proposed',
  'membership: change decided',
  'rebuild',
  'minority: unsafe vote_num refused',
  'minority: force-start',
  'minority: lost replica fenced',
  'minority: normal mode',
  'minority: promoted back',
  'thrifty: nearest follower crash',
  'thrifty: nearest follower cut off',
  'thrifty: nearest follower slow',
  'thrifty: lag checked',
] as const;

/** Why the adversary holds a message, and so when it lets it go. */
type HoldKind = 'restart' | 'leader-changes' | 'timeouts';

/**
 * Crashes, restarts, partitions, stalls, the adversary's holds, client quiet
 * periods, idle evictions, and an operator's actions (switchover, step-down,
 * promote, run mode, snapshots, membership changes, a minority force-start
 * with its return to normal mode), all drawn from the run's PRNG at the rates
 * the seed chose. `step` runs once per tick during the safety phase;
 * `healAll` ends every fault for the liveness phase, and `settle` finishes
 * what an operator started.
 */
export class FaultSchedule {
  readonly counts: Counts = Object.fromEntries(COUNTERS.map((k) => [k, 0]));
  private readonly restartAt = new Map<ReplicaId, number>();
  private healAt = -1;
  /** Run mode is manual (automatic elections off) until this tick. */
  private manualUntil = -1;
  private autoElectionOff = false;
  /** Distinct leaderships seen so far (the adversary waits for leadership to change). */
  private leaderChanges = 0;
  private lastLeadership: string | null = null;
  /** The adversary waits for a message to take until this tick. */
  private captureUntil = -1;
  private readonly drill: MinorityDrill;
  private readonly cluster: SimCluster;
  private readonly workload: Workload;
  private readonly rng: Rng;
  private readonly k: Knobs;

  constructor(cluster: SimCluster, workload: Workload, rng: Rng, knobs: Knobs) {
    this.cluster = cluster;
    this.workload = workload;
    this.rng = rng;
    this.k = knobs;
    this.drill = new MinorityDrill(cluster, rng, knobs, this.counts);
    for (const id of cluster.ids) if (cluster.replica(id).machineClock.rho > 0) this.counts['clock: drifting replica']! += 1;
  }

  private count(what: (typeof COUNTERS)[number], n = 1): void {
    this.counts[what] = (this.counts[what] ?? 0) + n;
  }

  step(): void {
    const c = this.cluster;
    const now = c.now;
    for (const [id, at] of this.restartAt) {
      if (now >= at) {
        this.restartAt.delete(id);
        c.restart(id);
        // An operator promotes the replica just brought back (say, in the preferred region) before it caught up
        // (with fail-back on, only a top-priority one: any other would lead until the next election, by design).
        if (this.k.operatorRate > 0 && chance(this.rng, 0.2) && c.replica(id).up && this.promotable().includes(id)) {
          const r = c.replica(id).core!.campaignNow();
          if (r.ok) this.count('operator: promote');
          c.trace(`operator: promote ${id} as it restarts: ${r.ok ? 'campaigning' : r.message}`);
          c.flush();
        }
      }
    }
    // A crash between persist and send happens inside the cluster; schedule its restart too.
    for (const id of c.ids) {
      if (!c.replica(id).up && !this.restartAt.has(id)) this.restartAt.set(id, now + randomInt(this.rng, 1, this.k.downTicksMax));
    }
    if (this.manualUntil >= 0 && now >= this.manualUntil) {
      c.setAutoElection(true);
      this.autoElectionOff = false;
      this.manualUntil = -1;
      this.count('operator: run mode automatic');
      c.trace('operator: run mode automatic');
    }
    this.adversary();
    if (chance(this.rng, this.k.operatorRate)) this.operatorAction();
    if (chance(this.rng, this.k.membershipRate) && !this.drill.active) this.membershipChange();
    if (chance(this.rng, this.k.minorityRate) && !this.drill.active) this.drill.start();
    this.drill.step();
    c.reconcileRebuilds();
    if (chance(this.rng, this.k.regionOutageRate)) {
      // A whole region (group) goes down at once.
      const members = c.currentConfiguration().members;
      const group = members[randomBelow(this.rng, members.length)]!.group;
      const down = members.filter((m) => m.group === group).map((m) => m.id);
      c.trace(`region outage: group ${group} (replicas ${down.join(', ')})`);
      this.count('region outage');
      for (const id of down) {
        if (!c.replica(id).up) continue;
        this.count('crash');
        c.crash(id, 'region outage');
        this.restartAt.set(id, now + randomInt(this.rng, 1, this.k.downTicksMax));
      }
    }
    if (chance(this.rng, this.k.crashRate)) {
      const up = c.upIds();
      const leader = c.leaderId();
      const victim = leader !== null && chance(this.rng, 0.5) ? leader : up[randomBelow(this.rng, Math.max(1, up.length))];
      if (victim !== undefined && c.replica(victim).up) {
        this.count('crash');
        if (victim === leader) this.count('crash: of the leader');
        c.crash(victim);
        this.restartAt.set(victim, now + randomInt(this.rng, 1, this.k.downTicksMax));
      }
    }
    if (chance(this.rng, this.k.evictionRate)) this.idleEviction();
    if (chance(this.rng, this.k.quietPeriodRate) && now >= this.workload.quietUntil) {
      // Every client stops for a while: the stream goes idle (and quiet, if its quiet period is set).
      const ticks = this.k.quietAfterTicks + randomInt(this.rng, this.k.timing.electionTimeoutTicks, 10 * this.k.timing.electionTimeoutTicks);
      this.workload.quietPeriod(now + ticks);
      this.count('quiet period');
      c.trace(`quiet period: no new client operation for ${ticks} ticks`);
    }
    if (chance(this.rng, this.k.stallRate)) {
      // One host, or every host at once (local workerd holds back every idle object's alarms while another is busy).
      const up = c.upIds();
      const who = chance(this.rng, 0.5) ? up : up.slice(randomBelow(this.rng, Math.max(1, up.length))).slice(0, 1);
      if (who.length > 0) {
        this.count('host stall');
        c.stallReplicas(who, randomInt(this.rng, 1, 3 * this.k.timing.electionTimeoutTicks));
      }
    }
    for (const [id, until] of this.slowUntil) {
      if (now < until) continue;
      this.slowUntil.delete(id);
      c.network.slow.delete(id);
      c.trace(`replica ${id} is fast again`);
    }
    if (chance(this.rng, this.k.nearestFollowerFaultRate)) this.nearestFollowerFault();
    if (this.healAt >= 0 && now >= this.healAt) {
      c.network.heal();
      c.trace('partition healed');
      this.healAt = -1;
    } else if (this.healAt < 0 && chance(this.rng, this.k.partitionRate)) {
      this.count('partition');
      this.healAt = now + randomInt(this.rng, 5, this.k.partitionTicksMax);
      this.partition();
    }
  }

  /**
   * An idle Durable Object is evicted: a quiet replica (or, sometimes, every
   * quiet replica of the stream at once) crashes and comes back soon, as it
   * would when called again - quiet, if what it stored allows.
   */
  private idleEviction(): void {
    const c = this.cluster;
    const quiet = c.upIds().filter((id) => !c.replica(id).stall && c.replica(id).core!.status().quiet);
    if (quiet.length === 0) return;
    const victims = chance(this.rng, 0.3) ? quiet : [quiet[randomBelow(this.rng, quiet.length)]!];
    for (const id of victims) {
      this.count('idle eviction');
      c.crash(id, 'idle eviction');
      this.restartAt.set(id, c.now + randomInt(this.rng, 1, 2 * this.k.timing.electionTimeoutTicks));
    }
  }

  /**
   * The adversary: now and then it takes one message out of the network and
   * delivers it when that hurts most - an answer to the leader once the
   * leader's process has restarted and spoken again (answers meant for its
   * previous life), anything to or from the leader once leadership changed
   * twice, or any message after several election timeouts.
   */
  private adversary(): void {
    const c = this.cluster;
    const net = c.network;
    const E = this.k.timing.electionTimeoutTicks;
    if (net.captured.length > 0 || net.capturePending) {
      const key = this.leadership();
      if (key !== null && key !== this.lastLeadership) {
        this.lastLeadership = key;
        this.leaderChanges += 1;
      }
    }
    if (net.capturePending && c.now >= this.captureUntil) net.stopCapturing();
    for (const h of net.releaseCaptured(c.now, 1)) {
      const kind = h.why as HoldKind;
      this.count(kind === 'restart' ? 'held: delivered to a restarted process' : kind === 'leader-changes' ? 'held: delivered after leadership changed twice' : 'held: delivered after election timeouts');
      c.trace(`adversary: delivers ${h.message.type} ${h.message.from}->${h.message.to} held since t${h.at} (${kind})`);
    }
    if (net.capturePending || !chance(this.rng, this.k.holdRate)) return;
    const leader = c.leaderId();
    const kind: HoldKind = (['restart', 'leader-changes', 'timeouts'] as const)[randomBelow(this.rng, 3)]!;
    const now = c.now;
    const giveUpAt = now + 20 * E; // held at most this long, whatever it waits for
    const captured = (): void => this.count('message: held by the adversary');
    if (kind === 'restart' && leader !== null) {
      const r = c.replica(leader);
      const life = r.incarnation;
      net.capture(
        (m) => m.to === leader && isAnswer(m) && (captured(), true),
        'restart',
        (t) => (r.incarnation > life && r.up && r.sentThisLife > 0) || t >= giveUpAt,
      );
    } else if (kind === 'leader-changes' && leader !== null) {
      this.lastLeadership = this.leadership();
      const base = this.leaderChanges;
      net.capture(
        (m) => (m.to === leader || m.from === leader) && (captured(), true),
        'leader-changes',
        (t) => this.leaderChanges >= base + 2 || t >= giveUpAt,
      );
    } else {
      const until = now + randomInt(this.rng, 1, 10) * E;
      net.capture((_m) => (captured(), true), 'timeouts', (t) => t >= until);
    }
    this.captureUntil = now + E;
  }

  /** The leadership now (epoch and ballot of the leader with the highest ballot), or null without a leader. */
  private leadership(): string | null {
    const l = this.cluster.leaderId();
    if (l === null) return null;
    const st = this.cluster.replica(l).core!.status();
    return `${st.epoch}/${formatBallot(st.ballot)}`;
  }

  /**
   * Thrifty replication's worst moment: a follower the leader counts on
   * first (its nearest quorum) crashes, is cut off, or turns slow.
   */
  private nearestFollowerFault(): void {
    const c = this.cluster;
    const leader = c.leaderId();
    const nearest = (leader === null ? null : c.replica(leader).core?.status().nearestQuorum) ?? [];
    if (nearest.length === 0) return;
    const victim = nearest[randomBelow(this.rng, nearest.length)]!;
    const kind = randomBelow(this.rng, 3);
    if (kind === 0) {
      if (!c.replica(victim).up) return;
      this.count('thrifty: nearest follower crash');
      c.crash(victim, 'nearest follower crash');
      this.restartAt.set(victim, c.now + randomInt(this.rng, 1, this.k.downTicksMax));
    } else if (kind === 1) {
      if (this.healAt >= 0) return; // one partition at a time
      this.count('thrifty: nearest follower cut off');
      this.healAt = c.now + randomInt(this.rng, 5, this.k.partitionTicksMax);
      c.network.isolate(victim, c.ids);
      c.trace(`partition: nearest follower ${victim} isolated`);
    } else {
      const extra = randomInt(this.rng, 1, 3 * this.k.timing.retransmitTicks);
      this.count('thrifty: nearest follower slow');
      c.network.slow.set(victim, extra);
      this.slowUntil.set(victim, c.now + randomInt(this.rng, 10, this.k.partitionTicksMax));
      c.trace(`nearest follower ${victim} turns slow: ${extra} more ticks each way`);
    }
  }

  /** Replicas turned slow, and the tick at which each is fast again. */
  private readonly slowUntil = new Map<ReplicaId, number>();

  private partition(): void {
    const c = this.cluster;
    const ids = [...c.ids];
    const kind = randomBelow(this.rng, 4);
    const leader = c.leaderId();
    if (kind === 0 && leader !== null) {
      c.network.isolate(leader, ids);
      c.trace(`partition: leader ${leader} isolated`);
    } else if (kind <= 1) {
      shuffle(this.rng, ids);
      const minority = ids.slice(0, Math.floor(ids.length / 2));
      c.network.partition([minority, ids.slice(minority.length)]);
      c.trace(`partition: [${minority}] | [${ids.slice(minority.length)}]`);
    } else if (kind === 2) {
      const a = ids[randomBelow(this.rng, ids.length)]!;
      c.network.isolate(a, ids);
      c.trace(`partition: replica ${a} isolated`);
    } else {
      const cuts = randomInt(this.rng, 1, ids.length);
      for (let i = 0; i < cuts; i++) {
        const from = ids[randomBelow(this.rng, ids.length)]!;
        const to = ids[randomBelow(this.rng, ids.length)]!;
        if (from !== to) c.network.cutOneWay(from, to);
      }
      c.trace(`partition: one-way cuts ${c.network.describeCuts()}`);
    }
  }

  /** Whom an operator may move leadership to: with fail-back on, a top-priority replica; otherwise any electable one. */
  private promotable(): ReplicaId[] {
    const t = { ...this.k.topology, members: this.cluster.currentConfiguration().members };
    return t.priority.enabled && t.priority.failback ? topPriority(t) : t.members.filter(isElectable).map((m) => m.id);
  }

  /**
   * What an operator might do mid-run. With priorities and fail-back on, an
   * operator moves leadership only to a top-priority replica (anything else
   * would stick until the next election, by design), so the settle check holds.
   */
  private operatorAction(): void {
    const c = this.cluster;
    const t = this.k.topology;
    const leader = c.leaderId();
    const failback = t.priority.enabled && t.priority.failback;
    const candidates = this.promotable().filter((id) => c.replica(id).up);
    const pick = candidates[randomBelow(this.rng, Math.max(1, candidates.length))];
    const kind = randomBelow(this.rng, 5);
    if (kind === 0 && leader !== null && pick !== undefined) {
      const r = c.replica(leader).core!.transferLeadership(pick);
      if (r.ok) this.count('operator: switchover');
      c.trace(`operator: switchover ${leader} -> ${pick}: ${r.ok ? 'started' : r.message}`);
    } else if (kind === 1 && leader !== null && !failback) {
      const r = c.replica(leader).core!.stepDown();
      if (r.ok) this.count('operator: step-down');
      c.trace(`operator: step-down of ${leader}: ${r.ok ? `to ${r.target}` : r.message}`);
    } else if (kind === 2 && pick !== undefined) {
      const r = c.replica(pick).core!.campaignNow();
      if (r.ok) this.count('operator: promote');
      c.trace(`operator: promote ${pick}: ${r.ok ? 'campaigning' : r.message}`);
    } else if (kind === 3 && !this.autoElectionOff) {
      c.setAutoElection(false);
      this.autoElectionOff = true;
      this.manualUntil = c.now + randomInt(this.rng, 20, 300);
      this.count('operator: run mode manual');
      c.trace('operator: run mode manual');
    } else if (kind === 4) {
      // Snapshot and truncate now (DCF dcf_truncate on demand), whatever the thresholds: at one replica, or at all.
      const up = c.upIds().filter((id) => !c.replica(id).stall);
      const at = chance(this.rng, 0.5) ? up : up.slice(randomBelow(this.rng, Math.max(1, up.length))).slice(0, 1);
      for (const id of at) {
        this.count('operator: snapshot now');
        c.compactNow(id);
      }
      if (at.length > 0) c.trace(`operator: snapshot and truncate at ${at.join(', ')}`);
    }
    c.flush();
  }

  /**
   * A membership change at the leader, as an operator would make it: add a new
   * replica as a learner (passive), promote a learner, demote or remove a
   * replica that does not lead, change a priority or weight, or rebuild a
   * replica in place. The core refuses what is unsafe or could not decide;
   * that is traced and fine.
   */
  private membershipChange(): void {
    const c = this.cluster;
    const leader = c.leaderId();
    if (leader === null) return;
    const core = c.replica(leader).core!;
    const config = core.status().configuration;
    const members = [...config.members];
    const others = members.filter((m) => m.id !== leader);
    const pickOf = <T>(xs: readonly T[]): T | undefined => xs[randomBelow(this.rng, Math.max(1, xs.length))];
    let next: Member[] | null = null;
    let added: Member | null = null;
    switch (randomBelow(this.rng, 6)) {
      case 0: {
        if (members.length >= 7) break;
        const id = Math.max(...c.ids) + 1;
        const like = pickOf(members)!;
        added = { id, role: 'passive', priority: randomBelow(this.rng, 4), weight: 1, group: like.group, ...(like.region ? { region: like.region } : {}) };
        next = [...members, added];
        break;
      }
      case 1: {
        const learner = pickOf(members.filter((m) => m.role === 'passive'));
        if (learner) next = members.map((m) => (m.id === learner.id ? { ...m, role: 'electable' as const } : m));
        break;
      }
      case 2: {
        const victim = pickOf(others.filter((m) => m.role === 'electable'));
        if (victim) next = members.map((m) => (m.id === victim.id ? { ...m, role: 'passive' as const } : m));
        break;
      }
      case 3: {
        const victim = pickOf(others);
        if (victim) next = members.filter((m) => m.id !== victim.id);
        break;
      }
      case 5: {
        // Rebuild a replica in place: a new incarnation as a learner; its storage is wiped once that is decided.
        const victim = pickOf(others.filter((m) => m.role !== 'logger'));
        if (victim && c.startRebuild(leader, victim.id).ok) this.count('membership: change proposed');
        c.flush();
        return;
      }
      default: {
        const target = pickOf(members)!;
        const change = chance(this.rng, 0.5) ? { priority: randomBelow(this.rng, 4) } : { weight: randomInt(this.rng, 1, 3) };
        next = members.map((m) => (m.id === target.id ? { ...m, ...change } : m));
        break;
      }
    }
    if (!next) return;
    const res = c.reconfigure(leader, { members: next, policy: config.policy });
    if (res.ok) this.count('membership: change proposed');
    if (res.ok && added) c.addReplica(added);
    c.flush();
  }

  /** True while an operator's procedure is under way (the liveness phase waits for it to finish). */
  get busy(): boolean {
    return this.drill.active;
  }

  /** Liveness phase: what an operator started goes on to its end; nothing new starts. */
  settle(): void {
    this.drill.step();
  }

  healAll(): void {
    const c = this.cluster;
    c.network.heal();
    c.network.slow.clear();
    this.slowUntil.clear();
    c.network.faults.lossRate = 0;
    c.network.faults.duplicateRate = 0;
    c.network.faults.tailRate = 0;
    c.network.stopCapturing();
    c.network.releaseCaptured(c.now, 1, true);
    c.crashBetweenPersistAndSendRate = 0;
    for (const id of c.ids) c.restart(id);
    c.unstallAll();
    c.setAutoElection(true);
    this.workload.quietPeriod(0);
    this.autoElectionOff = false;
    this.manualUntil = -1;
    this.restartAt.clear();
    this.healAt = -1;
    c.trace('liveness phase: all faults healed');
  }

  /** Counters of the cluster itself (forgiven stalls, quiet restarts, ...) merged into `counts`. */
  collect(): Counts {
    const c = this.cluster;
    return {
      ...this.counts,
      'crash: between persist and send': c.crashesBetweenPersistAndSend,
      'host stall: forgiven': c.stallsForgiven,
      'clock: rate change': c.clockRateChanges,
      'message: long-tail delay': c.network.tailDelayed,
      'quiet restart': c.quietRestarts,
      'quiet restart: as leader': c.quietLeaderRestarts,
      'snapshot installed': c.snapshotsInstalled,
      'membership: change decided': c.safety.decidedConfigurationChanges,
      rebuild: c.rebuilds,
    };
  }
}

/** An acceptor's answer to a proposer. */
function isAnswer(m: Message): boolean {
  return m.type === 'promise' || m.type === 'accepted' || m.type === 'heartbeat-reply' || m.type === 'nack' || m.type === 'pre-vote-reply';
}

/**
 * Minority force-start and back, as an operator runs it (docs/operations.md):
 * the replicas outside a chosen survivor set are lost (they crash; clients
 * cannot reach them until rebuilt), the survivors are forced into minority
 * mode with a `vote_num` drawn from the seed (an unsafe one must be refused,
 * and a refusal changes nothing), the lost replicas come back, are fenced on
 * contact and rebuilt (a logger is removed instead), the stream returns to
 * normal mode, and the rebuilt followers are promoted back once caught up.
 *
 * The survivors always include a replica holding the highest decided slot:
 * a force-start that loses acknowledged writes is the documented loss, which
 * no checker could tell from a bug, so the drill never causes one.
 */
class MinorityDrill {
  private state: {
    stage: 'forced' | 'rebuild' | 'normal' | 'promote';
    readonly survivors: readonly ReplicaId[];
    readonly lost: readonly Member[];
    readonly epoch: number;
    readonly since: number;
    nextTry: number;
    readonly fenced: Set<ReplicaId>;
  } | null = null;
  private readonly cluster: SimCluster;
  private readonly rng: Rng;
  private readonly k: Knobs;
  private readonly counts: Counts;

  constructor(cluster: SimCluster, rng: Rng, knobs: Knobs, counts: Counts) {
    this.cluster = cluster;
    this.rng = rng;
    this.k = knobs;
    this.counts = counts;
  }

  get active(): boolean {
    return this.state !== null;
  }

  start(): void {
    const c = this.cluster;
    const config = c.currentConfiguration();
    const leader = c.leaderId();
    if (leader !== null && c.replica(leader).core!.status().pendingConfiguration !== null) return; // one change at a time
    const usable = (id: ReplicaId): boolean => {
      const r = c.replica(id);
      return r.up && !r.stall && !r.core!.status().fenced;
    };
    // The operator forces the most up-to-date replica that can lead (by its own configuration), with others it picks:
    // it holds every decided slot, so nothing acknowledged is lost, and it can lead the survivors.
    const decidedOf = (id: ReplicaId): number => c.replica(id).backing.decidedThrough;
    const highest = c.safety.maxDecidedSlot;
    const voters = config.members.filter(isVoter);
    const holders = voters.filter((m) => decidedOf(m.id) >= highest && usable(m.id) && c.replica(m.id).core!.status().memberRole === 'electable');
    if (holders.length === 0) return;
    const survivors = new Set<ReplicaId>([holders[randomBelow(this.rng, holders.length)]!.id]);
    for (const m of voters) if (usable(m.id) && chance(this.rng, 0.5)) survivors.add(m.id);
    const s = [...survivors].sort((a, b) => a - b);
    // A change still pending in a survivor's log would be decided by the survivors alone (it may even remove them):
    // the operator waits until no change is under way, as for any change.
    if (s.some((id) => c.replica(id).core!.status().pendingConfiguration !== null)) return;
    const lost = config.members.filter((m) => !survivors.has(m.id));
    // The lost replicas are really down before the force-start (the operator's duty), and no client reaches them.
    for (const m of lost) {
      c.cutOffFromClients.add(m.id);
      if (c.replica(m.id).up) c.crash(m.id, 'minority drill: lost');
    }
    // vote_num as an operator might type it, unsafe values included; a survivor named twice counts once.
    const named = chance(this.rng, 0.2) ? [...s, s[randomBelow(this.rng, s.length)]!] : s;
    let voteNum = randomInt(this.rng, 0, s.length + 1);
    const safe = (v: number): boolean => v >= 1 && v <= s.length && 2 * v > s.length;
    if (!safe(voteNum)) {
      // Every replica (and the API) refuses through checkQuorumOverride, before anything changes.
      const refuses = (): boolean => {
        try {
          checkQuorumOverride({ voters: named, voteNum });
          return false;
        } catch (e) {
          if (!(e instanceof RangeError)) throw e;
          return true;
        }
      };
      if (!refuses()) c.safety.fail('work-mode-refusal', `minority mode with vote_num ${voteNum} of survivors [${named.join(', ')}] is accepted: two groups of ${voteNum} could each elect a leader and decide`);
      const before = s.map((id) => JSON.stringify(c.replica(id).core!.status()));
      let refused = false;
      try {
        c.forceMinority(named, voteNum);
      } catch (e) {
        if (!(e instanceof RangeError)) throw e;
        refused = true;
      }
      if (!refused) c.safety.fail('work-mode-refusal', `minority mode with vote_num ${voteNum} of survivors [${named.join(', ')}] was accepted: two groups of ${voteNum} could each decide`);
      const after = s.map((id) => JSON.stringify(c.replica(id).core!.status()));
      if (after.join() !== before.join()) c.safety.fail('work-mode-refusal', `a refused minority mode (vote_num ${voteNum}) changed a survivor's state`);
      this.counts['minority: unsafe vote_num refused']! += 1;
      c.trace(`operator: minority mode with vote_num ${voteNum} of [${named.join(', ')}] refused`);
    }
    // A safe vote_num may still lose what only some survivors decided (docs/operations.md), or make the return to
    // normal mode unsafe: the operator takes one that loses nothing acknowledged and lets the configured quorums
    // (among the survivors, after the rebuilds) meet every group of vote_num survivors.
    const least = this.leastLossFreeVoteNum(s, lost, config);
    if (!safe(voteNum) || voteNum < least) voteNum = randomInt(this.rng, least, s.length);
    if (guaranteedThrough(s.map(decidedOf), voteNum) < c.safety.maxDecidedSlot) throw new Error('minority drill: the survivors may lose a decided slot (a simulator bug)');
    let epoch: number;
    try {
      epoch = c.forceMinority(named, voteNum);
    } catch (e) {
      if (e instanceof RangeError) c.safety.fail('work-mode-refusal', `minority mode with vote_num ${voteNum} of survivors [${named.join(', ')}] was refused: ${e.message}`);
      throw e;
    }
    this.counts['minority: force-start']! += 1;
    this.state = { stage: 'forced', survivors: s, lost, epoch, since: c.now, nextTry: c.now, fenced: new Set() };
  }

  /**
   * The smallest vote_num with which no acknowledged write can be lost and the
   * configured quorums after the drill stay safe: enough survivors hold the
   * highest decided slot that every group of vote_num includes one, and every
   * phase-1 quorum of the configuration the drill will return to (survivors
   * voting, lost ones learners or removed) meets every group of vote_num.
   */
  private leastLossFreeVoteNum(s: readonly ReplicaId[], lost: readonly Member[], config: Configuration): number {
    const c = this.cluster;
    const k = s.length;
    const holders = s.filter((id) => c.replica(id).backing.decidedThrough >= c.safety.maxDecidedSlot).length;
    let least = Math.max(Math.floor(k / 2) + 1, k - holders + 1);
    const lostIds = new Set(lost.map((m) => m.id));
    const members = config.members
      .filter((m) => !(lostIds.has(m.id) && m.role === 'logger'))
      .map((m) => (lostIds.has(m.id) ? { ...m, role: 'passive' as const } : m));
    const after = compileConfiguration({ members, policy: fitPolicy(members, config.policy) });
    // The smallest phase-1 quorum made of survivors: vote_num must exceed k minus its size.
    for (let mask = 1; mask < 1 << k; mask++) {
      const group = new Set(s.filter((_, i) => mask & (1 << i)));
      if (after.quorum.isPhase1Quorum(group)) least = Math.max(least, k - group.size + 1);
    }
    return Math.min(least, k);
  }

  step(): void {
    const st = this.state;
    if (!st) return;
    const c = this.cluster;
    const E = this.k.timing.electionTimeoutTicks;
    if (c.now < st.nextTry) return;
    st.nextTry = c.now + Math.max(2, Math.ceil(E / 2));
    const leader = c.leaderId();
    const lead = leader !== null ? c.replica(leader).core!.status() : null;
    const leading = lead !== null && lead.epoch === st.epoch && !lead.fenced ? lead : null;
    switch (st.stage) {
      case 'forced': {
        if (c.now - st.since < E || !leading) return;
        st.stage = 'rebuild';
        return;
      }
      case 'rebuild': {
        if (!leading || leading.pendingConfiguration) return;
        for (const m of st.lost) {
          if (c.replica(m.id).backing.fenced && !st.fenced.has(m.id)) {
            st.fenced.add(m.id);
            this.counts['minority: lost replica fenced']! += 1;
          }
        }
        // One lost replica at a time: removed (a logger keeps no state machine to rebuild) or rebuilt as a learner.
        for (const m of st.lost) {
          const now = leading.configuration.members.find((x) => x.id === m.id);
          if (!now) continue;
          if ((now.incarnation ?? 1) > (m.incarnation ?? 1)) {
            if (c.replica(m.id).backing.incarnation < (now.incarnation ?? 1)) return; // wiped once every other voter knows
            continue;
          }
          // The operator relaxes a policy the change would break (flexible sizes or required groups beyond the voters left).
          const members = m.role === 'logger'
            ? leading.configuration.members.filter((x) => x.id !== m.id)
            : leading.configuration.members.map((x) => (x.id === m.id ? { ...x, role: 'passive' as const, incarnation: (x.incarnation ?? 1) + 1 } : x));
          c.reconfigure(leader!, { members, policy: fitPolicy(members, leading.configuration.policy) });
          c.flush();
          return;
        }
        st.stage = 'normal';
        return;
      }
      case 'normal': {
        // Back to the configured quorums on every survivor (a call to a Durable Object starts it), once no voter is fenced.
        for (const id of st.survivors) if (!c.replica(id).up) c.restart(id);
        if (st.survivors.some((id) => c.replica(id).stall)) return;
        const config = c.currentConfiguration();
        if (config.members.some((m) => isVoter(m) && c.replica(m.id).backing.fenced)) return;
        c.safety.normalMode(Math.max(...st.survivors.map((id) => c.replica(id).core!.status().lastSlot)));
        c.normalMode();
        this.counts['minority: normal mode']! += 1;
        st.stage = 'promote';
        return;
      }
      case 'promote': {
        if (!leading || leading.pendingConfiguration) return;
        for (const m of st.lost) {
          const now = leading.configuration.members.find((x) => x.id === m.id);
          if (!now || m.role === 'passive' || now.role === m.role) continue;
          const res = c.reconfigure(leader!, { members: leading.configuration.members.map((x) => (x.id === m.id ? { ...x, role: m.role } : x)), policy: leading.configuration.policy });
          if (res.ok) this.counts['minority: promoted back']! += 1;
          c.flush();
          return; // refused until it caught up: asked again later
        }
        this.state = null;
        c.trace('operator: minority drill done');
        return;
      }
    }
  }
}

/** `policy`, or as much of it as `members` can satisfy: flexible sizes go first, then required groups and regions. */
function fitPolicy(members: readonly Member[], policy: PolicySpec): PolicySpec {
  const tries: PolicySpec[] = [policy, { ...policy, phase1Weight: undefined, phase2Weight: undefined }, {}];
  for (const p of tries) {
    const clean = Object.fromEntries(Object.entries(p).filter(([, v]) => v !== undefined)) as PolicySpec;
    try {
      compileConfiguration({ members, policy: clean });
      return clean;
    } catch (e) {
      if (!(e instanceof RangeError)) throw e;
    }
  }
  return {};
}

function shuffle<T>(rng: Rng, xs: T[]): void {
  for (let i = xs.length - 1; i > 0; i--) {
    const j = randomBelow(rng, i + 1);
    [xs[i], xs[j]] = [xs[j]!, xs[i]!];
  }
}
