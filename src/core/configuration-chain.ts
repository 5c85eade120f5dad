import type { ReplicaId } from './ballot.ts';
import {
  type CompiledConfiguration,
  type Configuration,
  type ConfigurationAt,
  compileConfiguration,
  configurationKey,
} from './configuration.ts';
import type { AcceptorLog, Entry } from './log.ts';
import type { Member, Membership } from './membership.ts';
import type { PromisedEntry } from './messages.ts';
import type { QuorumOverride } from './replica-options.ts';

/** One configuration of the chain and the slot of the command that set it (0: bootstrap). */
export interface ChainLink {
  readonly slot: number;
  readonly config: CompiledConfiguration;
}

/**
 * Which configurations govern a replica's slots, and what their quorums need.
 *
 * A `config` command at slot s governs the slots after s once it is decided.
 * Until then it is one more link of the chain: a slot is decided only by a
 * phase-2 quorum of every configuration that may govern it, and an election
 * needs a phase-1 quorum of every configuration the candidate knows of (its
 * chain, plus any its promises reveal). In minority work mode an override
 * replaces all of that with `voteNum` of the named survivors.
 */
export class ConfigurationChain {
  private readonly log: AcceptorLog;
  /** The configuration in effect after the compacted prefix (the log no longer holds the command that set it). */
  private baseAt: ConfigurationAt;
  private baseDirty = false;
  private activeConfig: ChainLink;
  /** The end of the decided prefix `activeConfig` was computed for. */
  private activeThrough: number;
  /** Slots above the decided prefix whose entry in the log is a `config` command. */
  private readonly configSlots = new Set<number>();
  private cache: ChainLink[] | null = null;
  /** Configurations a candidate's promises revealed (by canonical key). */
  private promised = new Map<string, CompiledConfiguration>();
  /** Minority work mode: `voteNum` of these voters elect and decide, nothing else counts. */
  override: QuorumOverride | null = null;

  constructor(log: AcceptorLog, base: ConfigurationAt) {
    this.log = log;
    this.baseAt = base;
    this.activeConfig = { slot: base.slot, config: compileConfiguration(base.configuration) };
    this.activeThrough = log.compactedThrough;
    for (const e of log.range(log.decidedThrough + 1, log.lastSlot)) {
      if (e.command.kind === 'config') this.configSlots.add(e.slot);
    }
    this.refresh();
  }

  /** The configuration in effect after the decided prefix. */
  get active(): ChainLink {
    return this.activeConfig;
  }

  get membership(): Membership {
    return this.activeConfig.config.membership;
  }

  /** The configuration in effect, then every undecided `config` command in the log, in slot order. */
  links(): readonly ChainLink[] {
    if (!this.cache) {
      const out: ChainLink[] = [this.activeConfig];
      for (const s of [...this.configSlots].sort((a, b) => a - b)) {
        const e = this.log.get(s);
        if (e?.command.kind === 'config') out.push({ slot: s, config: compileConfiguration(e.command.configuration) });
      }
      this.cache = out;
    }
    return this.cache;
  }

  /** The newest undecided configuration, if a change is pending. */
  pending(): Configuration | null {
    const last = this.links().at(-1)!;
    return last === this.activeConfig ? null : last.config.configuration;
  }

  /** The newest member record of `id` in the chain. */
  memberInChain(id: ReplicaId): Member | undefined {
    const links = this.links();
    for (let i = links.length - 1; i >= 0; i--) {
      const m = links[i]!.config.membership.get(id);
      if (m) return m;
    }
    return undefined;
  }

  /** The incarnation of `id` to talk to: the one the configuration in effect names (a rebuild's new one counts once decided). */
  incarnationOf(id: ReplicaId): number {
    return (this.membership.get(id) ?? this.memberInChain(id))?.incarnation ?? 1;
  }

  /** Every other member and every other voter of any configuration in the chain. */
  peers(self: ReplicaId): { members: ReplicaId[]; voters: ReplicaId[] } {
    const ids = new Set<ReplicaId>();
    const voters = new Set<ReplicaId>();
    for (const { config } of this.links()) {
      for (const m of config.membership.members) {
        ids.add(m.id);
        if (m.role !== 'passive') voters.add(m.id);
      }
    }
    ids.delete(self);
    voters.delete(self);
    const byId = (a: number, b: number): number => a - b;
    return { members: [...ids].sort(byId), voters: [...voters].sort(byId) };
  }

  /** An entry was written to the log: true if the chain changed (a `config` command came or went). */
  noteWrite(e: Entry): boolean {
    const had = this.configSlots.has(e.slot);
    if (e.command.kind === 'config') this.configSlots.add(e.slot);
    else if (had) this.configSlots.delete(e.slot);
    else return false;
    this.cache = null;
    return true;
  }

  /**
   * The decided prefix grew: the configuration in effect is the last decided
   * `config` command's. 'active' if a new one took effect, 'chain' if only
   * the chain got shorter, null if nothing changed.
   */
  refresh(): 'active' | 'chain' | null {
    const d = this.log.decidedThrough;
    if (d <= this.activeThrough) return null;
    let latest: ConfigurationAt | null = null;
    for (let s = Math.max(this.activeThrough, this.log.compactedThrough) + 1; s <= d; s++) {
      const e = this.log.get(s);
      if (e?.command.kind === 'config') latest = { slot: s, configuration: e.command.configuration };
    }
    this.activeThrough = d;
    let pruned = false;
    for (const s of this.configSlots) {
      if (s <= d) {
        this.configSlots.delete(s);
        pruned = true;
      }
    }
    if (latest) {
      this.activeConfig = { slot: latest.slot, config: compileConfiguration(latest.configuration) };
      this.cache = null;
      return 'active';
    }
    if (pruned) this.cache = null;
    return pruned ? 'chain' : null;
  }

  /** A snapshot through `slot` replaced the log; `at` is the configuration in effect after it. */
  installSnapshot(slot: number, at: ConfigurationAt): void {
    this.baseAt = at;
    this.baseDirty = true;
    this.activeThrough = slot;
    for (const s of this.configSlots) if (s <= slot) this.configSlots.delete(s);
    this.activeConfig = { slot: at.slot, config: compileConfiguration(at.configuration) };
    this.cache = null;
  }

  /** The log is about to be compacted through `limit`: the base moves there. */
  compactTo(limit: number): void {
    const base = this.configurationAt(limit);
    if (base === this.baseAt) return;
    this.baseAt = base;
    this.baseDirty = true;
  }

  /** The configuration in effect after `slot` (between the compacted prefix and the decided prefix). */
  configurationAt(slot: number): ConfigurationAt {
    let at = this.baseAt;
    for (let s = this.log.compactedThrough + 1; s <= slot; s++) {
      const e = this.log.get(s);
      if (e?.command.kind === 'config') at = { slot: s, configuration: e.command.configuration };
    }
    return at;
  }

  hasDirtyBase(): boolean {
    return this.baseDirty;
  }

  /** The base to persist, if it moved since the last call. */
  takeDirtyBase(): ConfigurationAt | null {
    if (!this.baseDirty) return null;
    this.baseDirty = false;
    return this.baseAt;
  }

  // ---------------------------------------------------------------- quorums

  /** A decision at `slot` needs a phase-2 quorum of every configuration that may govern it. */
  isDecisionQuorum(slot: number, acks: ReadonlySet<ReplicaId>): boolean {
    if (this.override) return this.overrideSatisfied(acks);
    for (const { slot: at, config } of this.links()) {
      if (at >= slot) break;
      if (!config.quorum.isPhase2Quorum(acks)) return false;
    }
    return true;
  }

  /** Phase 1 (and pre-vote) needs a quorum of every configuration that may govern an undecided slot. */
  isElectionQuorum(voters: ReadonlySet<ReplicaId>): boolean {
    if (this.override) return this.overrideSatisfied(voters);
    for (const { config } of this.links()) if (!config.quorum.isPhase1Quorum(voters)) return false;
    for (const config of this.promised.values()) if (!config.quorum.isPhase1Quorum(voters)) return false;
    return true;
  }

  /** Reads and check-quorum: a phase-2 quorum of every configuration in the chain. */
  isConfirmationQuorum(acceptors: ReadonlySet<ReplicaId>): boolean {
    if (this.override) return this.overrideSatisfied(acceptors);
    for (const { config } of this.links()) if (!config.quorum.isPhase2Quorum(acceptors)) return false;
    return true;
  }

  overrideSatisfied(acceptors: ReadonlySet<ReplicaId>): boolean {
    const o = this.override;
    if (!o) return false;
    let n = 0;
    for (const id of o.voters) if (acceptors.has(id)) n += 1;
    return n >= o.voteNum;
  }

  /** What a decision lacks among `active` acceptors (null: nothing), for the status page. */
  explainBlocked(active: ReadonlySet<ReplicaId>): string | null {
    const o = this.override;
    if (o) return this.overrideSatisfied(active) ? null : `minority mode: ${o.voteNum} of replicas ${o.voters.join(', ')} must answer`;
    const problems: string[] = [];
    for (const { config } of this.links()) {
      const missing = config.quorum.explainPhase2(active);
      if (missing !== null && !problems.includes(missing)) problems.push(missing);
    }
    return problems.length === 0 ? null : problems.join('; ');
  }

  // ---------------------------------------------------------------- candidates

  /** A new candidacy: forget what earlier promises revealed. */
  resetPromised(): void {
    this.promised = new Map();
  }

  /**
   * A promise's entries may hold configuration changes above our decided
   * index: phase 1 needs a quorum of each. Returns the voters of newly learned
   * configurations (the candidate must ask them too).
   */
  learnFromPromise(entries: readonly PromisedEntry[]): ReplicaId[] {
    const known = new Set(this.links().map((l) => configurationKey(l.config.configuration)));
    const voters: ReplicaId[] = [];
    for (const e of entries) {
      if (e.command.kind !== 'config') continue;
      const key = configurationKey(e.command.configuration);
      if (known.has(key) || this.promised.has(key)) continue;
      const config = compileConfiguration(e.command.configuration);
      this.promised.set(key, config);
      voters.push(...config.membership.voterIds);
    }
    return voters;
  }
}
