import {
  type Ballot,
  type Command,
  type CompiledConfiguration,
  type Configuration,
  type Entry,
  type Message,
  type PersistDelta,
  type PromiseMessage,
  type Ready,
  type ReplicaId,
  type ReplicaStatus,
  ballotEquals,
  ballotGreater,
  commandKey,
  compileConfiguration,
  configurationKey,
  formatBallot,
} from '../src/core/index.ts';
import type { KvResult } from '../src/kv/index.ts';
import type { SimProcess } from './cluster.ts';

/** A broken safety property or invariant; `rule` names which (see SafetyChecker), the message says where. */
export class SafetyViolation extends Error {
  override readonly name = 'SafetyViolation';
  readonly rule: string;

  constructor(rule: string, message: string) {
    super(`[${rule}] ${message}`);
    this.rule = rule;
  }
}

/**
 * The safety properties of Multi-Paxos and the invariants each mechanism
 * relies on, checked from outside the core (its status, each Ready, every
 * message it sends, what it persists) after every Ready and after every input
 * that produced none. Each has a rule name, printed with a violation:
 *
 * Agreement
 * - `decided-twice`: at most one value is decided per slot (so decided prefixes agree everywhere);
 * - `applied-state-differs`: replicas that applied the same slot hold the same state;
 * - `decided-without-quorum`: a value is decided only once acceptors forming a phase-2 quorum of
 *   the policy (weights, required groups) that governs its slot persisted it at one ballot;
 * - `decided-entry-missing`: a replica holds every slot it reports decided.
 * Acceptors
 * - `promise-regressed`: what a replica persisted as its promise never goes down;
 * - `promise-below-answer`: a promise never falls below a ballot it answered at, across crashes too;
 * - `accept-below-promise`: an acceptor never stores (or acknowledges) an accept below the promise
 *   it had durably made before;
 * - `decided-slot-rewritten` / `decided-prefix-regressed`: a decided slot is never written again,
 *   and the decided prefix never shrinks (durably, or within a process life).
 * Leaders and candidates
 * - `leader-without-promises`: a candidate becomes leader only once acceptors forming a phase-1
 *   quorum (with itself) promised its ballot;
 * - `proposal-contradicts-decided`: a leader never proposes, for a slot decided anywhere, a value
 *   other than the decided one (once a value is chosen, every higher ballot proposes it);
 * - `recovery-not-highest-ballot`: a new leader proposes, for each slot the promises it had (and
 *   its own log) reported, the value known decided, else the one accepted at the highest ballot;
 * - `leader-ballot-not-promise`: a leader's (and candidate's) ballot is its promise;
 * - `two-leaders`: at most one replica process leads with a given ballot (a replica restarted
 *   quiet may lead again at the ballot it led with, from its start: Replica.restoreQuiet);
 * - `quiet-restore`: a replica comes back quiet only as its quiet record allows: its promise is
 *   still that ballot, the same epoch, its whole log decided (and a leader only at its own ballot);
 * - `not-electable`: only a follower campaigns or leads (never a logger, a passive replica or a
 *   replica outside the configuration it knows).
 * Reads
 * - `read-confirmed-without-quorum`: a read-index read is confirmed only once acceptors forming
 *   a confirmation quorum (with the leader) answered its ballot after the read was asked;
 * - `read-nonce-reused`: within a ballot, read nonces never go down, and a later life of the
 *   same leader (a quiet restart reuses its ballot) never reuses an earlier life's nonces.
 * Applying, snapshots, epochs
 * - `applied-beyond-decided` / `applied-regressed`: applied ≤ decided, and applied never goes down;
 * - `compacted-beyond-applied`: a replica with a state machine drops only slots it applied;
 * - `fenced-replica-acts`: a fenced replica sends nothing; `epoch-regressed`: epochs only rise.
 */
export class SafetyChecker {
  private readonly bootstrap: CompiledConfiguration;
  /** Decided configuration changes: slot -> the configuration governing the slots after it. */
  private readonly decidedConfigs = new Map<number, CompiledConfiguration>();
  /** slot -> "ballot|value" -> acceptors that persisted that value at that ballot. */
  private readonly acceptedBy = new Map<number, Map<string, { readonly ballot: Ballot; readonly who: Set<ReplicaId> }>>();
  /** Each replica's log as it persisted it, since its last wipe: slot -> every (ballot, value) it held there, oldest first. */
  private readonly logs = new Map<ReplicaId, Map<number, { readonly ballot: Ballot; readonly value: string }[]>>();

  constructor(bootstrap: Configuration) {
    this.bootstrap = compileConfiguration(bootstrap);
  }

  /** The current epoch: replicas of earlier ones hold a forked-off history (they are fenced on contact). */
  private epoch = 0;

  /**
   * A minority force-start's quorum: decisions of slots through `throughSlot`
   * may rest on `voteNum` of `voters` (Infinity while minority mode is on).
   */
  private forced: { voters: ReadonlySet<ReplicaId>; voteNum: number; throughSlot: number } | null = null;

  /**
   * A minority force-start: from now on a decision may rest on `voteNum` of the
   * survivors. Decisions above `keepThrough` (the highest slot a survivor had
   * decided) may have been made by the lost majority alone: they are the
   * documented loss of a forced start and are forgotten here, so the new
   * epoch's history is checked on its own.
   */
  forceMinority(override: { voters: readonly ReplicaId[]; voteNum: number }, keepThrough: number, epoch: number): void {
    this.forced = { voters: new Set(override.voters), voteNum: override.voteNum, throughSlot: Number.POSITIVE_INFINITY };
    this.epoch = epoch;
    for (const s of [...this.decided.keys()]) if (s > keepThrough) this.decided.delete(s);
    for (const s of [...this.appliedDigest.keys()]) if (s > keepThrough) this.appliedDigest.delete(s);
    for (const s of [...this.acceptedBy.keys()]) if (s > keepThrough) this.acceptedBy.delete(s);
    for (const s of [...this.decidedConfigs.keys()]) if (s > keepThrough) this.decidedConfigs.delete(s);
    for (const [id, through] of this.checkedThrough) if (through > keepThrough) this.checkedThrough.set(id, keepThrough);
  }

  /** Back to the configured quorums: slots above `throughSlot` (the highest any survivor holds) need them again. */
  normalMode(throughSlot: number): void {
    if (this.forced) this.forced = { ...this.forced, throughSlot: Math.min(this.forced.throughSlot, throughSlot) };
  }

  /** The highest slot decided anywhere so far (0 if none). */
  get maxDecidedSlot(): number {
    let max = 0;
    for (const s of this.decided.keys()) if (s > max) max = s;
    return max;
  }

  /** A replica rebuilt from nothing: its earlier promises are gone with its old self. */
  forgetReplica(id: ReplicaId): void {
    this.logs.delete(id);
    this.persistedPromise.delete(id);
    this.externalised.delete(id);
    this.durable.delete(id);
    this.lastEpoch.delete(id);
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

  /** Decided slots: the value, who first reported it, and the lowest ballot at which a quorum accepted it (when it was chosen). */
  private readonly decided = new Map<number, { key: string; by: ReplicaId; chosenAt: Ballot }>();
  private readonly checkedThrough = new Map<ReplicaId, number>();
  private readonly appliedDigest = new Map<number, { digest: string; by: ReplicaId }>();
  private readonly persistedPromise = new Map<ReplicaId, Ballot>();
  private readonly externalised = new Map<ReplicaId, Ballot>();
  private readonly leaders = new Map<string, { id: ReplicaId; incarnation: number }>();
  /** Replica processes that started as leader (restored quiet), with the ballot they restored: `id#incarnation` → `epoch/ballot`. */
  private readonly restoredLeaders = new Map<string, string>();
  /** What each replica had durably stored before the Ready being processed (promise, decided prefix). */
  private readonly durable = new Map<ReplicaId, { promised: Ballot; decidedThrough: number }>();
  /** Per process life: the decided and applied indexes last seen, and whether it was fenced. */
  private readonly life = new Map<ReplicaId, { incarnation: number; decided: number; applied: number; fenced: boolean }>();
  private readonly lastEpoch = new Map<ReplicaId, number>();
  /** Read nonces per leader ballot, `id/epoch/ballot`: the highest sent by earlier process lives, and by this one. */
  private readonly nonces = new Map<string, { earlierMax: number; life: number; first: number; max: number }>();
  /** A counter of sends and read requests: what happened before what. */
  private order = 0;
  /** Reads asked: `id#incarnation/readId` → when, at which ballot. */
  private readonly reads = new Map<string, { at: number; ballot: string }>();
  /** Promises delivered to a candidate process, by `id#incarnation@ballot`, until it first proposes at that ballot. */
  private readonly promisesDelivered = new Map<string, PromiseMessage[]>();
  /** Per leader process and ballot: the value phase-1 recovery owes each reported slot, and the slots checked. */
  private readonly recovery = new Map<string, { best: Map<number, { ballot: Ballot; value: string; decided: boolean }>; checked: Set<number> }>();
  /** Who promised which candidate's ballot: `to@epoch/ballot` → promisers. */
  private readonly promisesTo = new Map<string, Set<ReplicaId>>();
  /** Each replica's role after its last checked step, with its process life (a leader must come from a candidate). */
  private readonly lastRole = new Map<ReplicaId, { role: string; incarnation: number }>();
  /** The latest answer of `from` to `to` at a ballot: `from>to@ballot` → when. */
  private readonly answers = new Map<string, number>();
  private readonly compiled = new Map<string, CompiledConfiguration>();
  /** Status of a replica for the Ready being processed (the core does not change between ready() and advance()). */
  private readonly statusCache = new Map<ReplicaId, ReplicaStatus>();
  /** Full state snapshots are compared every this many slots (item digests at every slot). */
  readonly fullSnapshotEverySlots = 32;

  private statusOf(r: SimProcess): ReplicaStatus | null {
    const core = r.core;
    if (!core) return null;
    let st = this.statusCache.get(r.id);
    if (!st) this.statusCache.set(r.id, (st = core.status()));
    return st;
  }

  onStart(r: SimProcess, now: number): void {
    this.statusCache.delete(r.id);
    this.checkedThrough.set(r.id, 0);
    this.durable.set(r.id, { promised: r.backing.promised, decidedThrough: r.backing.decidedThrough });
    const st = r.core!.status();
    this.life.set(r.id, { incarnation: r.incarnation, decided: st.decidedThrough, applied: st.appliedThrough, fenced: st.fenced });
    if (st.quiet) {
      // Came back quiet (Replica.restoreQuiet): only as the record it stored when it went quiet allows.
      const q = r.backing.quiet;
      const why =
        !q ? 'it stored no quiet record'
        : !ballotEquals(q.ballot, st.promised) ? `its promise ${formatBallot(st.promised)} is not the quiet ballot ${formatBallot(q.ballot)}`
        : q.epoch !== st.epoch ? `it went quiet in epoch ${q.epoch}, not ${st.epoch}`
        : st.decidedThrough !== st.lastSlot ? `its log is decided through ${st.decidedThrough} of ${st.lastSlot}`
        : st.role === 'leader' && (q.leaderId !== r.id || !ballotEquals(st.ballot, q.ballot)) ? `it leads at ${formatBallot(st.ballot)} but went quiet following ${q.leaderId} at ${formatBallot(q.ballot)}`
        : st.role !== 'leader' && st.leaderId !== q.leaderId ? `it follows ${st.leaderId} but went quiet following ${q.leaderId}`
        : null;
      if (why) this.fail('quiet-restore', `replica ${r.id} restarted quiet (${st.role}) although ${why}`);
    }
    // A replica that comes back quiet may lead again at the ballot it led before it went down
    // (Replica.restoreQuiet); the same ballot from any later campaign is still two leaders.
    if (st.role === 'leader') this.restoredLeaders.set(`${r.id}#${r.incarnation}`, `${st.epoch}/${formatBallot(st.ballot)}`);
    this.onStep(r, now);
  }

  onPersist(r: SimProcess, delta: PersistDelta): void {
    const before = this.durable.get(r.id) ?? { promised: r.backing.promised, decidedThrough: 0 };
    const st = this.statusOf(r);
    const oldEpoch = st !== null && st.epoch < this.epoch; // a forked-off history: its accepts decide nothing here
    for (const e of delta.entries) {
      if (ballotGreater(before.promised, e.ballot)) {
        this.fail('accept-below-promise', `replica ${r.id} stored slot ${e.slot} at ${formatBallot(e.ballot)}, below its durable promise ${formatBallot(before.promised)}`);
      }
      if (e.slot <= before.decidedThrough) {
        this.fail('decided-slot-rewritten', `replica ${r.id} stored slot ${e.slot} again at ${formatBallot(e.ballot)}, though it had durably decided through ${before.decidedThrough}`);
      }
      let log = this.logs.get(r.id);
      if (!log) this.logs.set(r.id, (log = new Map()));
      let held = log.get(e.slot);
      if (!held) log.set(e.slot, (held = []));
      if (!held.at(-1) || !ballotEquals(held.at(-1)!.ballot, e.ballot)) held.push({ ballot: e.ballot, value: commandKey(e.command) });
      if (oldEpoch) continue;
      let bySlot = this.acceptedBy.get(e.slot);
      if (!bySlot) this.acceptedBy.set(e.slot, (bySlot = new Map()));
      const key = `${formatBallot(e.ballot)}|${commandKey(e.command)}`;
      let acc = bySlot.get(key);
      if (!acc) bySlot.set(key, (acc = { ballot: e.ballot, who: new Set() }));
      acc.who.add(r.id);
    }
    if (delta.compactThrough !== undefined) {
      const log = this.logs.get(r.id);
      if (log) for (const slot of log.keys()) if (slot <= delta.compactThrough) log.delete(slot);
    }
    if (delta.decidedThrough !== undefined && delta.decidedThrough < before.decidedThrough) {
      this.fail('decided-prefix-regressed', `replica ${r.id} persisted its decided prefix through ${delta.decidedThrough}, below its earlier ${before.decidedThrough}`);
    }
    const earlier = this.persistedPromise.get(r.id);
    const now = r.backing.promised;
    if (earlier && ballotGreater(earlier, now)) {
      this.fail('promise-regressed', `replica ${r.id} persisted promise ${formatBallot(now)} below its earlier ${formatBallot(earlier)}`);
    }
    this.persistedPromise.set(r.id, now);
  }

  /** Ballots in an acceptor's replies are commitments: it must never again promise less. */
  onSend(r: SimProcess, m: Message): void {
    this.order += 1;
    const st = this.statusOf(r);
    if (!st) return;
    if (this.life.get(r.id)?.fenced) this.fail('fenced-replica-acts', `replica ${r.id} is fenced but sent ${m.type} to ${m.to}`);
    if ((m.type === 'pre-vote' || m.type === 'prepare') && st.memberRole !== 'electable') {
      this.fail('not-electable', `replica ${r.id} (${st.memberRole}) campaigned (${m.type})`);
    }
    let committed: Ballot | null = null;
    switch (m.type) {
      case 'promise': {
        committed = m.ballot;
        const key = `${m.to}@${st.epoch}/${formatBallot(m.ballot)}`;
        let who = this.promisesTo.get(key);
        if (!who) this.promisesTo.set(key, (who = new Set()));
        who.add(r.id);
        break;
      }
      case 'heartbeat-reply':
        committed = m.ballot;
        break;
      case 'accept':
        if (st.epoch >= this.epoch) {
          this.checkProposal(r, m.ballot, m.firstSlot, m.commands);
          this.checkRecovery(r, m.ballot, m.firstSlot, m.commands);
        }
        break;
      case 'accepted': {
        committed = m.ballot;
        const floor = this.durable.get(r.id)?.promised;
        if (floor && ballotGreater(floor, m.ballot)) {
          this.fail('accept-below-promise', `replica ${r.id} acknowledged slots ${m.firstSlot}..${m.lastSlot} at ${formatBallot(m.ballot)}, below its durable promise ${formatBallot(floor)}`);
        }
        break;
      }
      case 'nack':
        committed = m.promised;
        break;
      case 'heartbeat':
        this.checkNonce(r, st, m.ballot, m.readSeq);
        break;
      default:
        break;
    }
    if (m.type === 'heartbeat-reply') this.answers.set(`${r.id}>${m.to}@${formatBallot(m.ballot)}`, this.order);
    if (!committed) return;
    const prev = this.externalised.get(r.id);
    if (!prev || ballotGreater(committed, prev)) this.externalised.set(r.id, committed);
  }

  /**
   * Paxos P2b: once a value is chosen for a slot at a ballot, every proposal
   * at that ballot or a higher one carries that value (a stale leader's
   * retransmission at a lower ballot may still carry another; it can never
   * be chosen).
   */
  private checkProposal(r: SimProcess, ballot: Ballot, firstSlot: number, commands: readonly Command[]): void {
    for (let i = 0; i < commands.length; i++) {
      const decided = this.decided.get(firstSlot + i);
      if (decided && ballotGreater(decided.chosenAt, ballot)) continue;
      if (decided && decided.key !== commandKey(commands[i]!)) {
        this.fail('proposal-contradicts-decided', `replica ${r.id} proposed ${commandKey(commands[i]!)} for slot ${firstSlot + i} at ${formatBallot(ballot)}, though ${decided.key} was chosen there at ${formatBallot(decided.chosenAt)} (replica ${decided.by} holds it decided)`);
      }
    }
  }

  /** A message is about to be stepped by `r` (phase-1 recovery checks what promises a new leader had). */
  onDeliver(r: SimProcess, m: Message): void {
    if (m.type !== 'promise') return;
    const key = `${r.id}#${r.incarnation}@${formatBallot(m.ballot)}`;
    let got = this.promisesDelivered.get(key);
    if (!got) this.promisesDelivered.set(key, (got = []));
    got.push(m);
  }

  /**
   * Phase-1 recovery: the first time a leader proposes a slot at its ballot,
   * the value must be the one its promises (delivered before it led) and its
   * own log reported as decided, else the one accepted at the highest ballot
   * (any value if none reported the slot).
   */
  private checkRecovery(r: SimProcess, ballot: Ballot, firstSlot: number, commands: readonly Command[]): void {
    if (ballot.replicaId !== r.id) return;
    const key = `${r.id}#${r.incarnation}@${formatBallot(ballot)}`;
    let rec = this.recovery.get(key);
    if (!rec) {
      // The first accept at this ballot: the election just happened, so the promises delivered so far are those it had.
      const promises = this.promisesDelivered.get(key) ?? [];
      this.promisesDelivered.delete(key);
      const fromSlot = promises.reduce((m, p) => Math.max(m, p.fromSlot), 0);
      const best = new Map<number, { ballot: Ballot; value: string; decided: boolean }>();
      const offer = (slot: number, b: Ballot, value: string, decided: boolean): void => {
        const cur = best.get(slot);
        if (!cur || (!cur.decided && (decided || ballotGreater(b, cur.ballot)))) best.set(slot, { ballot: b, value, decided });
      };
      for (const p of promises) {
        if (p.fromSlot !== fromSlot) continue;
        for (const e of p.entries) if (e.slot >= fromSlot) offer(e.slot, e.ballot, commandKey(e.command), e.decided);
      }
      // Its own promise: what its log held below this ballot, from the same slot on.
      if (fromSlot > 0) {
        for (const [slot, held] of this.logs.get(r.id) ?? []) {
          if (slot < fromSlot) continue;
          const e = held.findLast((x) => ballotGreater(ballot, x.ballot));
          if (e) offer(slot, e.ballot, e.value, false);
        }
      }
      this.recovery.set(key, (rec = { best, checked: new Set() }));
      if (this.recovery.size > 64) this.recovery.delete(this.recovery.keys().next().value!);
    }
    for (let i = 0; i < commands.length; i++) {
      const slot = firstSlot + i;
      if (rec.checked.has(slot)) continue;
      rec.checked.add(slot);
      const want = rec.best.get(slot);
      if (want && want.value !== commandKey(commands[i]!)) {
        this.fail('recovery-not-highest-ballot', `replica ${r.id} leads at ${formatBallot(ballot)} and proposed ${commandKey(commands[i]!)} for slot ${slot}, but its promises reported ${want.value} ${want.decided ? 'as decided' : `accepted at ${formatBallot(want.ballot)}, the highest ballot`}`);
      }
    }
  }

  /**
   * A replica that just became leader (from candidate) must hold promises of
   * its ballot from acceptors forming a phase-1 quorum with it, of the
   * configuration in effect and of any change pending (or of the minority
   * override).
   */
  private checkElected(r: SimProcess, st: ReplicaStatus): void {
    const promised = new Set<ReplicaId>(this.promisesTo.get(`${r.id}@${st.epoch}/${formatBallot(st.ballot)}`) ?? []);
    promised.add(r.id);
    const o = st.quorumOverride;
    const ok = o
      ? o.voters.filter((id) => promised.has(id)).length >= o.voteNum
      : [st.configuration, st.pendingConfiguration].every((c) => c === null || this.compile(c).quorum.isPhase1Quorum(promised));
    if (!ok) this.fail('leader-without-promises', `replica ${r.id} leads at ${formatBallot(st.ballot)} with promises of that ballot from only [${[...promised].join(', ')}]`);
  }

  /**
   * Within a ballot, nonces only go up; a later life of the same leader (a
   * quiet restart reuses its ballot) starts at or above every nonce an earlier
   * life sent and introduces only nonces above them: an answer meant for an
   * earlier life can then never confirm a read of this one.
   */
  private checkNonce(r: SimProcess, st: ReplicaStatus, ballot: Ballot, seq: number): void {
    const key = `${r.id}/${st.epoch}/${formatBallot(ballot)}`;
    let n = this.nonces.get(key);
    if (!n) this.nonces.set(key, (n = { earlierMax: -1, life: r.incarnation, first: seq, max: seq }));
    if (n.life !== r.incarnation) {
      n.earlierMax = Math.max(n.earlierMax, n.max);
      n.life = r.incarnation;
      n.first = seq;
      n.max = seq;
    }
    if (seq < n.max) this.fail('read-nonce-reused', `replica ${r.id} sent read nonce ${seq} at ${formatBallot(ballot)} after ${n.max}`);
    if (seq < n.earlierMax || (seq === n.earlierMax && seq !== n.first)) {
      this.fail('read-nonce-reused', `replica ${r.id} (process life ${r.incarnation}) sent read nonce ${seq} at ${formatBallot(ballot)}, which an earlier life of it already used (up to ${n.earlierMax})`);
    }
    n.max = seq;
  }

  /** A client asked replica `r` for a read-index read. */
  onReadRequest(r: SimProcess, readId: string): void {
    this.order += 1;
    const st = r.core?.status();
    if (st?.role !== 'leader') return; // refused: not the leader
    this.reads.set(`${r.id}#${r.incarnation}/${readId}`, { at: this.order, ballot: formatBallot(st.ballot) });
  }

  /** After the host did everything a Ready asked. */
  onReady(r: SimProcess, rd: Ready): void {
    this.statusCache.delete(r.id);
    if (rd.readStates.length > 0) this.checkReadConfirmations(r, rd);
    for (const id of rd.dropped.reads) this.reads.delete(`${r.id}#${r.incarnation}/${id}`);
  }

  /**
   * A read is served only if, after it was asked, acceptors forming a
   * confirmation quorum with the leader answered its ballot: each answer says
   * that acceptor had promised no higher ballot when it sent it, so no other
   * leader could have decided anything the read would miss.
   */
  private checkReadConfirmations(r: SimProcess, rd: Ready): void {
    const st = r.core!.status();
    for (const rs of rd.readStates) {
      const key = `${r.id}#${r.incarnation}/${rs.readId}`;
      const asked = this.reads.get(key);
      if (!asked) continue; // asked directly of the core (a story), not through the cluster
      this.reads.delete(key);
      const answered = new Set<ReplicaId>([r.id]);
      for (const [k, at] of this.answers) {
        if (at <= asked.at) continue;
        const gt = k.indexOf('>');
        const atSign = k.indexOf('@');
        if (Number(k.slice(gt + 1, atSign)) !== r.id || k.slice(atSign + 1) !== asked.ballot) continue;
        answered.add(Number(k.slice(0, gt)));
      }
      if (!this.isConfirmationQuorum(st, answered)) {
        this.fail('read-confirmed-without-quorum', `replica ${r.id} confirmed read ${rs.readId} (asked at ballot ${asked.ballot}) although only [${[...answered].join(', ')}] answered that ballot after it was asked`);
      }
    }
  }

  private isConfirmationQuorum(st: ReplicaStatus, acceptors: ReadonlySet<ReplicaId>): boolean {
    const o = st.quorumOverride;
    if (o) return o.voters.filter((id) => acceptors.has(id)).length >= o.voteNum;
    for (const c of [st.configuration, st.pendingConfiguration]) {
      if (c && !this.compile(c).quorum.isPhase2Quorum(acceptors)) return false;
    }
    return true;
  }

  private compile(c: Configuration): CompiledConfiguration {
    const key = configurationKey(c);
    let compiled = this.compiled.get(key);
    if (!compiled) this.compiled.set(key, (compiled = compileConfiguration(c)));
    return compiled;
  }

  onApply(r: SimProcess, e: Entry, result: KvResult): void {
    if ((this.statusOf(r)?.epoch ?? 0) < this.epoch) return; // a forked-off history, fenced on contact
    let digest = `${commandKey(e.command)}=>${JSON.stringify(result)}|${JSON.stringify(r.sm.list('', Number.MAX_SAFE_INTEGER))}|${r.sm.sessionCount}`;
    if (e.slot % this.fullSnapshotEverySlots === 0) digest += `|${r.sm.snapshot()}`;
    const seen = this.appliedDigest.get(e.slot);
    if (!seen) {
      this.appliedDigest.set(e.slot, { digest, by: r.id });
    } else if (seen.digest !== digest) {
      this.fail('applied-state-differs', `replicas ${seen.by} and ${r.id} differ after applying slot ${e.slot}:\n  ${seen.digest}\n  ${digest}`);
    }
  }

  /** After every Ready, and after every input that produced none. */
  onStep(r: SimProcess, now: number): void {
    this.statusCache.delete(r.id);
    const core = r.core;
    if (!core) return;
    const st = core.status();
    this.durable.set(r.id, { promised: r.backing.promised, decidedThrough: r.backing.decidedThrough });
    const told = this.externalised.get(r.id);
    if (told && ballotGreater(told, st.promised)) {
      this.fail('promise-below-answer', `replica ${r.id} promised ${formatBallot(st.promised)} after having answered at ${formatBallot(told)}`);
    }
    if (st.role === 'leader' && st.memberRole !== 'electable') this.fail('not-electable', `replica ${r.id}, a ${st.memberRole}, became leader`);
    if ((st.role === 'leader' || st.role === 'candidate') && !ballotEquals(st.ballot, st.promised)) {
      this.fail('leader-ballot-not-promise', `replica ${r.id} is ${st.role} at ${formatBallot(st.ballot)} but promised ${formatBallot(st.promised)}`);
    }
    this.checkLife(r, st);
    const was = this.lastRole.get(r.id);
    if (st.role === 'leader' && was?.incarnation === r.incarnation && was.role !== 'leader') this.checkElected(r, st);
    this.lastRole.set(r.id, { role: st.role, incarnation: r.incarnation });
    if (st.role === 'leader') {
      const key = `${st.epoch}/${formatBallot(st.ballot)}`;
      const prev = this.leaders.get(key);
      const restored = prev !== undefined && prev.id === r.id && this.restoredLeaders.get(`${r.id}#${r.incarnation}`) === key;
      if (!prev || restored) this.leaders.set(key, { id: r.id, incarnation: r.incarnation });
      else if (prev.id !== r.id || prev.incarnation !== r.incarnation) {
        this.fail('two-leaders', `two leaders with ballot ${key}: replica ${prev.id}#${prev.incarnation} and ${r.id}#${r.incarnation}`);
      }
    }
    if (st.epoch < this.epoch) return; // a forked-off history: it can no longer act on the current one
    // Compacted slots were checked when they were decided (here or, for a snapshot, elsewhere).
    const from = Math.max((this.checkedThrough.get(r.id) ?? 0) + 1, st.firstSlot);
    for (let s = from; s <= st.decidedThrough; s++) {
      const e = core.decidedEntry(s);
      if (!e) this.fail('decided-entry-missing', `replica ${r.id} reports slot ${s} decided but holds no entry`);
      const key = commandKey(e.command);
      const prev = this.decided.get(s);
      if (!prev) {
        this.decided.set(s, { key, by: r.id, chosenAt: this.chosenAt(s, key, r.id) });
        if (e.command.kind === 'config') this.decidedConfigs.set(s, compileConfiguration(e.command.configuration));
      }
      else if (prev.key !== key) {
        this.fail('decided-twice', `slot ${s} decided twice with different values: replica ${prev.by} has ${prev.key}, replica ${r.id} has ${key}`);
      }
    }
    this.checkedThrough.set(r.id, Math.max(from - 1, st.decidedThrough));
  }

  /** Indexes within one process life: applied ≤ decided, neither goes down; compaction, epochs, fencing. */
  private checkLife(r: SimProcess, st: ReplicaStatus): void {
    let life = this.life.get(r.id);
    if (!life || life.incarnation !== r.incarnation) {
      this.life.set(r.id, (life = { incarnation: r.incarnation, decided: st.decidedThrough, applied: st.appliedThrough, fenced: st.fenced }));
    }
    if (st.appliedThrough > st.decidedThrough) this.fail('applied-beyond-decided', `replica ${r.id} applied ${st.appliedThrough} but decided only ${st.decidedThrough}`);
    const smApplied = r.runner?.keepsData ? r.sm.appliedThrough : 0;
    if (smApplied > st.decidedThrough) this.fail('applied-beyond-decided', `replica ${r.id}'s state machine applied ${smApplied} but it decided only ${st.decidedThrough}`);
    if (st.decidedThrough < life.decided) this.fail('decided-prefix-regressed', `replica ${r.id}'s decided prefix went from ${life.decided} to ${st.decidedThrough}`);
    if (st.appliedThrough < life.applied) this.fail('applied-regressed', `replica ${r.id}'s applied index went from ${life.applied} to ${st.appliedThrough}`);
    if (r.runner?.keepsData && st.firstSlot - 1 > st.appliedThrough) {
      this.fail('compacted-beyond-applied', `replica ${r.id} compacted through ${st.firstSlot - 1} but applied only ${st.appliedThrough}`);
    }
    if (life.fenced && !st.fenced) this.fail('fenced-replica-acts', `replica ${r.id} was fenced and is no longer, without a rebuild`);
    const epoch = this.lastEpoch.get(r.id) ?? 0;
    if (st.epoch < epoch) this.fail('epoch-regressed', `replica ${r.id}'s epoch went from ${epoch} to ${st.epoch}`);
    this.lastEpoch.set(r.id, st.epoch);
    life.decided = st.decidedThrough;
    life.applied = st.appliedThrough;
    life.fenced = st.fenced;
  }

  /** The lowest ballot at which a phase-2 quorum persisted `valueKey` for `slot`; fails if there is none. */
  private chosenAt(slot: number, valueKey: string, by: ReplicaId): Ballot {
    const forced = this.forced && slot <= this.forced.throughSlot ? this.forced : null;
    let lowest: Ballot | null = null;
    for (const [k, { ballot, who }] of this.acceptedBy.get(slot) ?? []) {
      if (k.slice(k.indexOf('|') + 1) !== valueKey) continue;
      const quorum = this.governing(slot).quorum.isPhase2Quorum(who) || (forced !== null && [...who].filter((id) => forced.voters.has(id)).length >= forced.voteNum);
      if (quorum && (!lowest || ballotGreater(lowest, ballot))) lowest = ballot;
    }
    if (lowest) return lowest;
    const seen = [...(this.acceptedBy.get(slot) ?? [])].map(([k, { who }]) => `${k.split('|')[0]} by [${[...who]}]`).join('; ');
    this.fail('decided-without-quorum', `replica ${by} holds slot ${slot} as decided, but no phase-2 quorum ever persisted its value at one ballot (${seen || 'nobody'})`);
  }

  /** Slots decided anywhere so far. */
  get decidedSlots(): number {
    return this.decided.size;
  }

  /** Fail the run: `rule` names the invariant. */
  fail(rule: string, message: string): never {
    throw new SafetyViolation(rule, message);
  }
}
