import {
  type Ballot,
  type Entry,
  type Message,
  type CompiledConfiguration,
  type Configuration,
  type PersistDelta,
  type ReplicaId,
  compileConfiguration,
  ballotGreater,
  commandKey,
  formatBallot,
} from '../src/core/index.ts';
import type { KvResult } from '../src/kv/index.ts';
import type { SimProcess } from './cluster.ts';

/** A broken safety property; the message says which and where. */
export class SafetyViolation extends Error {
  override readonly name = 'SafetyViolation';
}

/**
 * The safety properties of Multi-Paxos, checked after every Ready:
 * - at most one value is decided per slot (so decided prefixes agree everywhere);
 * - replicas that applied the same slot hold the same state;
 * - a replica's promise never falls below a ballot it has told anyone about,
 *   across crashes too, and what it persisted never goes down;
 * - at most one replica process leads with a given ballot (a replica restarted quiet may lead again
 *   at the ballot it led with, from its start: Replica.restoreQuiet);
 * - a value is decided only once acceptors forming a phase-2 quorum of the
 *   policy (weights, required groups) have persisted it at one ballot;
 * - only a follower campaigns or leads (never a logger, a passive replica or a
 *   replica outside the configuration it knows).
 */
export class SafetyChecker {
  private readonly bootstrap: CompiledConfiguration;
  /** Decided configuration changes: slot -> the configuration governing the slots after it. */
  private readonly decidedConfigs = new Map<number, CompiledConfiguration>();
  /** slot -> "ballot|value" -> acceptors that persisted that value at that ballot. */
  private readonly acceptedBy = new Map<number, Map<string, Set<ReplicaId>>>();

  constructor(bootstrap: Configuration) {
    this.bootstrap = compileConfiguration(bootstrap);
  }

  /** The current epoch: replicas of earlier ones hold a forked-off history (they are fenced on contact). */
  private epoch = 0;

  /** A minority force-start's quorum: decisions it made count as decided by a quorum. */
  private forced: { voters: ReadonlySet<ReplicaId>; voteNum: number } | null = null;

  /**
   * A minority force-start: from now on a decision may rest on `voteNum` of the
   * survivors. Decisions above `keepThrough` (the highest slot a survivor had
   * decided) may have been made by the lost majority alone: they are the
   * documented loss of a forced start and are forgotten here, so the new
   * epoch's history is checked on its own.
   */
  forceMinority(override: { voters: readonly ReplicaId[]; voteNum: number }, keepThrough: number, epoch: number): void {
    this.forced = { voters: new Set(override.voters), voteNum: override.voteNum };
    this.epoch = epoch;
    for (const s of [...this.decided.keys()]) if (s > keepThrough) this.decided.delete(s);
    for (const s of [...this.appliedDigest.keys()]) if (s > keepThrough) this.appliedDigest.delete(s);
    for (const s of [...this.acceptedBy.keys()]) if (s > keepThrough) this.acceptedBy.delete(s);
    for (const s of [...this.decidedConfigs.keys()]) if (s > keepThrough) this.decidedConfigs.delete(s);
    for (const [id, through] of this.checkedThrough) if (through > keepThrough) this.checkedThrough.set(id, keepThrough);
  }

  /** A replica rebuilt from nothing: its earlier promises are gone with its old self. */
  forgetReplica(id: ReplicaId): void {
    this.persistedPromise.delete(id);
    this.externalised.delete(id);
    this.checkedThrough.set(id, 0);
  }

  /** How many configuration changes were decided so far. */
  get decidedConfigurationChanges(): number {
    return this.decidedConfigs.size;
  }

  /** The configuration of the highest decided change, if any was decided. */
  latestConfiguration(): Configuration | null {
    return this.latestConfigurationAt()?.configuration ?? null;
  }

  /** The highest decided change and its slot, if any was decided. */
  latestConfigurationAt(): { slot: number; configuration: Configuration } | null {
    let best = -1;
    for (const s of this.decidedConfigs.keys()) if (s > best) best = s;
    return best < 0 ? null : { slot: best, configuration: this.decidedConfigs.get(best)!.configuration };
  }

  /** The configuration governing `slot`: the last decided change before it (every earlier slot is decided by now). */
  private governing(slot: number): CompiledConfiguration {
    let best = -1;
    for (const s of this.decidedConfigs.keys()) if (s < slot && s > best) best = s;
    return best < 0 ? this.bootstrap : this.decidedConfigs.get(best)!;
  }

  private readonly decided = new Map<number, { key: string; by: ReplicaId }>();
  private readonly checkedThrough = new Map<ReplicaId, number>();
  private readonly appliedDigest = new Map<number, { digest: string; by: ReplicaId }>();
  private readonly persistedPromise = new Map<ReplicaId, Ballot>();
  private readonly externalised = new Map<ReplicaId, Ballot>();
  private readonly leaders = new Map<string, { id: ReplicaId; incarnation: number }>();
  /** Replica processes that started as leader (restored quiet), with the ballot they restored: `id#incarnation` → `epoch/ballot`. */
  private readonly restoredLeaders = new Map<string, string>();
  /** Full state snapshots are compared every this many slots (item digests at every slot). */
  readonly fullSnapshotEverySlots = 32;

  onStart(r: SimProcess, now: number): void {
    this.checkedThrough.set(r.id, 0);
    // A replica that comes back quiet may lead again at the ballot it led before it went down
    // (Replica.restoreQuiet); the same ballot from any later campaign is still two leaders.
    const st = r.core?.status();
    if (st?.role === 'leader') this.restoredLeaders.set(`${r.id}#${r.incarnation}`, `${st.epoch}/${formatBallot(st.ballot)}`);
    this.onStep(r, now);
  }

  onPersist(r: SimProcess, delta: PersistDelta): void {
    for (const e of delta.entries) {
      let bySlot = this.acceptedBy.get(e.slot);
      if (!bySlot) this.acceptedBy.set(e.slot, (bySlot = new Map()));
      const key = `${formatBallot(e.ballot)}|${commandKey(e.command)}`;
      let who = bySlot.get(key);
      if (!who) bySlot.set(key, (who = new Set()));
      who.add(r.id);
    }
    const before = this.persistedPromise.get(r.id);
    const now = r.backing.promised;
    if (before && ballotGreater(before, now)) {
      this.fail(`replica ${r.id} persisted promise ${formatBallot(now)} below its earlier ${formatBallot(before)}`);
    }
    this.persistedPromise.set(r.id, now);
  }

  /** Ballots in an acceptor's replies are commitments: it must never again promise less. */
  onSend(r: SimProcess, m: Message): void {
    const st = r.core?.status();
    if (st && (m.type === 'pre-vote' || m.type === 'prepare') && st.memberRole !== 'electable') {
      this.fail(`replica ${r.id} (${st.memberRole}) campaigned (${m.type})`);
    }
    let committed: Ballot | null = null;
    switch (m.type) {
      case 'promise':
      case 'accepted':
      case 'heartbeat-reply':
        committed = m.ballot;
        break;
      case 'nack':
        committed = m.promised;
        break;
      default:
        break;
    }
    if (!committed) return;
    const prev = this.externalised.get(r.id);
    if (!prev || ballotGreater(committed, prev)) this.externalised.set(r.id, committed);
  }

  onApply(r: SimProcess, e: Entry, result: KvResult): void {
    if ((r.core?.status().epoch ?? 0) < this.epoch) return; // a forked-off history, fenced on contact
    let digest = `${commandKey(e.command)}=>${JSON.stringify(result)}|${JSON.stringify(r.sm.list('', Number.MAX_SAFE_INTEGER))}|${r.sm.sessionCount}`;
    if (e.slot % this.fullSnapshotEverySlots === 0) digest += `|${r.sm.snapshot()}`;
    const seen = this.appliedDigest.get(e.slot);
    if (!seen) {
      this.appliedDigest.set(e.slot, { digest, by: r.id });
    } else if (seen.digest !== digest) {
      this.fail(`replicas ${seen.by} and ${r.id} differ after applying slot ${e.slot}:\n  ${seen.digest}\n  ${digest}`);
    }
  }

  onStep(r: SimProcess, now: number): void {
    const core = r.core;
    if (!core) return;
    const st = core.status();
    const told = this.externalised.get(r.id);
    if (told && ballotGreater(told, st.promised)) {
      this.fail(`replica ${r.id} promised ${formatBallot(st.promised)} after having answered at ${formatBallot(told)} (tick ${now})`);
    }
    if (st.role === 'leader' && st.memberRole !== 'electable') this.fail(`replica ${r.id}, a ${st.memberRole}, became leader`);
    if (st.role === 'leader') {
      const key = `${st.epoch}/${formatBallot(st.ballot)}`;
      const prev = this.leaders.get(key);
      const restored = prev !== undefined && prev.id === r.id && this.restoredLeaders.get(`${r.id}#${r.incarnation}`) === key;
      if (!prev || restored) this.leaders.set(key, { id: r.id, incarnation: r.incarnation });
      else if (prev.id !== r.id || prev.incarnation !== r.incarnation) {
        this.fail(`two leaders with ballot ${key}: replica ${prev.id}#${prev.incarnation} and ${r.id}#${r.incarnation}`);
      }
    }
    if (st.epoch < this.epoch) return; // a forked-off history: it can no longer act on the current one
    // Compacted slots were checked when they were decided (here or, for a snapshot, elsewhere).
    const from = Math.max((this.checkedThrough.get(r.id) ?? 0) + 1, st.firstSlot);
    for (let s = from; s <= st.decidedThrough; s++) {
      const e = core.decidedEntry(s);
      if (!e) this.fail(`replica ${r.id} reports slot ${s} decided but holds no entry`);
      const key = commandKey(e.command);
      const prev = this.decided.get(s);
      if (!prev) {
        this.decided.set(s, { key, by: r.id });
        this.checkDecidedByQuorum(s, key, r.id);
        if (e.command.kind === 'config') this.decidedConfigs.set(s, compileConfiguration(e.command.configuration));
      }
      else if (prev.key !== key) {
        this.fail(`slot ${s} decided twice with different values: replica ${prev.by} has ${prev.key}, replica ${r.id} has ${key}`);
      }
    }
    this.checkedThrough.set(r.id, Math.max(from - 1, st.decidedThrough));
  }

  private checkDecidedByQuorum(slot: number, valueKey: string, by: ReplicaId): void {
    for (const [k, who] of this.acceptedBy.get(slot) ?? []) {
      if (k.slice(k.indexOf('|') + 1) !== valueKey) continue;
      if (this.governing(slot).quorum.isPhase2Quorum(who)) return;
      if (this.forced && [...who].filter((id) => this.forced!.voters.has(id)).length >= this.forced.voteNum) return;
    }
    const seen = [...(this.acceptedBy.get(slot) ?? [])].map(([k, who]) => `${k.split('|')[0]} by [${[...who]}]`).join('; ');
    this.fail(`replica ${by} holds slot ${slot} as decided, but no phase-2 quorum ever persisted its value at one ballot (${seen || 'nobody'})`);
  }

  /** Slots decided anywhere so far. */
  get decidedSlots(): number {
    return this.decided.size;
  }

  private fail(message: string): never {
    throw new SafetyViolation(message);
  }
}
