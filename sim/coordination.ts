import { type ClientCommand, type Entry, type ReplicaId, type Rng, type TxnCompare, type TxnOp, chance, randomBelow, randomInt } from '../src/core/index.ts';
import type { KvChange, KvResult, KvStateMachine, LockView } from '../src/kv/index.ts';
import type { Watcher, WatchEvent, WatchFilter } from '../src/host/watch-hub.ts';
import type { CoordInput, CoordOperation, CoordOutput, CoordTxnResult } from './checker/coordination-model.ts';
import { type WatchRecord, type WatchedEvent, checkWatch } from './checker/watch-checker.ts';
import type { ApplyListener, SimCluster, SimProcess } from './cluster.ts';
import { SafetyViolation } from './safety.ts';

/**
 * The coordination primitives in the random campaign (issue 14): clients
 * that run transactions, hold leases and contend for a lock, and watchers
 * that follow the key space from replicas' watch histories, all under the
 * campaign's faults (sim/faults.ts) and per-replica clock drift
 * (sim/clock.ts).
 *
 * - Bank clients move amounts between three accounts, each transfer one
 *   transaction that compares both balances' revisions; audits read all three
 *   in one transaction; now and then a scratch key is written and every
 *   scratch key removed by one delete_prefix.
 * - Lock clients follow the lock recipe of the service layer
 *   (src/api/lock-service.ts): grant a lease, create their waiter key
 *   `lock/m/<lease>` (compare create_revision == 0) with the lease attached,
 *   keep the lease alive, read the queue (linearizably) until their key is the
 *   oldest, write under the fencing token (a transaction that compares their
 *   key's create revision), and release (delete the key, revoke the lease) -
 *   or die holding it, so the leader's expiry must end the lease.
 * - Watchers open watches at any replica that is up (leader or follower),
 *   for a prefix, a key or everything, from the revision after the last one
 *   they saw; a connection ends after a while (with a last progress event),
 *   or with its replica's process, and the watcher reconnects.
 *
 * Checked during the run, each a rule named like the safety checker's
 * (SafetyViolation):
 * - `lease-expired-early`: a client that sent a keep-alive (or the grant) at
 *   true time T and was told it succeeded may rely on the lease until
 *   T + TTL - drift allowance (allowance = rho x TTL, rho the seed's bound on
 *   every clock's rate error; the client's clock here is true time); the
 *   cluster never applies the lease's expiry earlier, at any replica.
 * - `lock-holders-overlap`: a holder's turn runs from the moment the read that
 *   showed it the oldest was served to the moment it sent its release, or the
 *   end of its lease by the rule above, whichever comes first; two holders'
 *   turns never overlap, and fencing tokens increase with the turns.
 * - `lock-lost-while-lease-lives`: a fenced write is refused (the holder's key
 *   is gone) only after the holder's lease could have ended by the rule.
 * At the end (`check`): every transaction, lease grant, keep-alive, revoke and
 * the cluster's expiries through the linearizability checker's coordination
 * model (the caller does it with `history`), and every watch against the
 * changes of every slot (`checkWatch`).
 */

export interface CoordinationOptions {
  readonly bankClients: number;
  readonly lockClients: number;
  readonly watchers: number;
  /** Operations the bank and lock clients start in all (keep-alives not counted). */
  readonly operations: number;
  readonly timeoutTicks: number;
  readonly giveUpRate: number;
  /** A lease's TTL in true ticks (its `ttl_ms` is this times the cluster's ms per tick). */
  readonly ttlTicks: number;
  readonly tickMs: number;
  /** The seed's bound on every replica clock's rate error: the drift allowance is rho x TTL. */
  readonly rho: number;
  /** Probability that a lock holder dies holding the lock (its lease must expire). */
  readonly dieRate: number;
  /** Ticks a watch connection lasts at most before the replica ends it (with a last progress event). */
  readonly watchTicksMax: number;
  /** Every this many ticks each replica sends every watcher a progress event. */
  readonly progressEveryTicks: number;
}

export const ACCOUNTS = ['bank/a', 'bank/b', 'bank/c'] as const;
const BALANCE = 100;
const LOCK_PREFIX = 'lock/m/';
const FENCED_KEY = 'fenced/last';

type Outcome = { readonly kind: 'result'; readonly result: KvResult } | { readonly kind: 'unknown' };

interface Request {
  readonly input: CoordInput | null;
  readonly command: (id: string) => ClientCommand;
  readonly idempotencyKey: string;
  readonly call: number;
  /** True time of the first send (what a lease's holder counts from). */
  readonly sentAt: number;
  readonly done: (o: Outcome, returnedAt: number) => void;
  attempt: number;
  deadline: number;
  sendAt: number;
  proposed: boolean;
  inFlight: { readonly at: ReplicaId; readonly id: string } | null;
}

/** One channel of requests (one at a time), sent to the replica believed to lead, retried with one idempotency key. */
class Channel {
  pending: Request | null = null;
  private read: { readonly readId: string; readonly at: ReplicaId; deadline: number; readonly done: (v: LockView | null) => void; readonly make: () => void } | null = null;
  private leaderGuess: ReplicaId;
  private sequence = 0;
  private readonly w: CoordinationWorkload;
  readonly clientId: number;
  constructor(w: CoordinationWorkload, clientId: number) {
    this.w = w;
    this.clientId = clientId;
    this.leaderGuess = w.cluster.ids[randomBelow(w.rng, w.cluster.ids.length)]!;
  }

  get busy(): boolean {
    return this.pending !== null || this.read !== null;
  }

  /** Propose `command` (retried under one idempotency key); `input` non-null: record it in the history. */
  request(input: CoordInput | null, command: (id: string) => ClientCommand, done: (o: Outcome, returnedAt: number) => void): void {
    const cluster = this.w.cluster;
    this.pending = { input, command, idempotencyKey: `q${this.clientId}.${++this.sequence}`, call: cluster.clock(), sentAt: cluster.now, done, attempt: 0, deadline: 0, sendAt: cluster.now, proposed: false, inFlight: null };
  }

  /** A linearizable read of the lock's queue; `done(null)`: given up. */
  readLock(key: string, done: (v: LockView | null) => void): void {
    const cluster = this.w.cluster;
    const make = (): void => {
      const target = this.leaderGuess;
      const readId = `l${this.clientId}.${++this.sequence}`;
      const res = cluster.readQuery(target, readId, (kv: KvStateMachine) => kv.lockView(LOCK_PREFIX, key), (o) => {
        if (this.read?.readId !== readId) return;
        this.read = null;
        if (o.kind === 'dropped') {
          this.pickAnother();
          done(null);
        } else done(o.value);
      });
      if (!res.ok) {
        if (res.reason === 'not-leader' && res.leaderHint !== null) this.leaderGuess = res.leaderHint;
        else this.pickAnother();
      }
      this.read = { readId, at: target, deadline: res.ok ? cluster.now + this.w.options.timeoutTicks : cluster.now + 1, done, make };
    };
    make();
  }

  step(): void {
    const now = this.w.cluster.now;
    if (this.read && now >= this.read.deadline) {
      const r = this.read;
      this.w.cluster.forget(r.at, 'read', r.readId);
      this.read = null;
      r.done(null); // the caller reads again when it wants
    }
    const p = this.pending;
    if (!p) return;
    if (p.sendAt === Number.POSITIVE_INFINITY && now >= p.deadline) {
      if (p.inFlight) this.w.cluster.forget(p.inFlight.at, 'proposal', p.inFlight.id);
      p.inFlight = null;
      if (this.w.allowGiveUp && chance(this.w.rng, this.w.options.giveUpRate)) {
        this.finish(p, { kind: 'unknown' });
        return;
      }
      this.w.retries += 1;
      this.pickAnother();
      p.sendAt = now;
    }
    if (now >= p.sendAt) this.send(p);
  }

  private send(p: Request): void {
    const cluster = this.w.cluster;
    p.attempt += 1;
    p.sendAt = Number.POSITIVE_INFINITY;
    p.deadline = cluster.now + this.w.options.timeoutTicks;
    const target = this.leaderGuess;
    const command = { ...p.command(`${p.idempotencyKey}.${p.attempt}`), idempotencyKey: p.idempotencyKey } as ClientCommand;
    const res = cluster.propose(target, command, (o) => {
      if (this.pending !== p) return;
      if (o.kind === 'dropped') {
        this.pickAnother();
        p.sendAt = this.w.cluster.now + 1;
      } else if (o.kind === 'outcome-unknown') p.deadline = this.w.cluster.now;
      else this.finish(p, { kind: 'result', result: o.result });
    });
    if (res.ok) {
      p.proposed = true;
      p.inFlight = { at: target, id: command.id };
      return;
    }
    if (res.reason === 'overloaded') {
      if (this.w.allowGiveUp && chance(this.w.rng, this.w.options.giveUpRate)) {
        if (p.proposed) this.finish(p, { kind: 'unknown' });
        else {
          this.pending = null; // never proposed: no effect, not recorded
          p.done({ kind: 'unknown' }, this.w.cluster.clock());
        }
        return;
      }
      p.sendAt = cluster.now + 1 + randomBelow(this.w.rng, 3);
      return;
    }
    if (res.reason === 'not-leader' && res.leaderHint !== null) this.leaderGuess = res.leaderHint;
    else this.pickAnother();
    p.sendAt = cluster.now + 1;
  }

  private finish(p: Request, o: Outcome): void {
    this.pending = null;
    const returnedAt = o.kind === 'unknown' ? Number.POSITIVE_INFINITY : this.w.cluster.clock();
    if (p.input) this.w.history.push({ clientId: this.clientId, input: p.input, call: p.call, return: returnedAt, output: o.kind === 'unknown' ? undefined : toCoordOutput(p.input, o.result) });
    p.done(o, returnedAt);
  }

  private pickAnother(): void {
    const ids = this.w.cluster.ids;
    this.leaderGuess = ids[randomBelow(this.w.rng, ids.length)]!;
  }

}

function toCoordOutput(input: CoordInput, r: KvResult): CoordOutput {
  switch (r.kind) {
    case 'txn': {
      if (input.kind !== 'txn') break;
      const results: CoordTxnResult[] = r.results.map((x) => {
        if (x.kind === 'get') return { kind: 'get', key: x.key, item: x.item ? { value: x.item.value, revision: x.item.revision, createRevision: x.item.createRevision } : null };
        if (x.kind === 'put') return { kind: 'put', revision: x.revision };
        return { kind: 'delete', deleted: x.deleted };
      });
      return { kind: 'txn', succeeded: r.succeeded, revision: r.revision, results };
    }
    case 'lease':
      return { kind: 'lease', lease: r.lease };
    case 'lease-ended':
      return { kind: 'lease-ended', keys: r.keys, revision: r.revision };
    case 'lease-kept':
      return { kind: 'lease-kept' };
    case 'rejected':
      if (r.code === 'lease_not_found') return { kind: 'rejected', code: 'lease_not_found' };
      break;
  }
  throw new Error(`coordination: unexpected result ${JSON.stringify(r)} for ${JSON.stringify(input)}`);
}

/** Lease bookkeeping for the safety rule: what clients may rely on, and when the cluster ended each lease. */
class LeaseRule {
  /** Lease id -> the latest true time its holder may rely on it until (T + TTL - allowance of its latest acknowledged refresh). */
  private readonly reliesUntil = new Map<string, { until: number; sentAt: number }>();
  /** Lease id -> when an expiry of it was first applied anywhere (true time). */
  readonly expiredAt = new Map<string, number>();
  expiries = 0;
  private readonly ttlTicks: number;
  private readonly allowanceTicks: number;
  constructor(ttlTicks: number, allowanceTicks: number) {
    this.ttlTicks = ttlTicks;
    this.allowanceTicks = allowanceTicks;
  }

  /** A grant or keep-alive sent at `sentAt` (true time) was acknowledged. */
  acknowledged(lease: string, sentAt: number): void {
    const until = sentAt + this.ttlTicks - this.allowanceTicks;
    const prev = this.reliesUntil.get(lease);
    if (!prev || until > prev.until) this.reliesUntil.set(lease, { until, sentAt });
    this.check(lease);
  }

  expired(lease: string, at: number): void {
    if (this.expiredAt.has(lease)) return;
    this.expiredAt.set(lease, at);
    this.expiries += 1;
    this.check(lease);
  }

  /** The true time until which the lease's holder may rely on it (-Infinity: never acknowledged). */
  until(lease: string): number {
    return this.reliesUntil.get(lease)?.until ?? Number.NEGATIVE_INFINITY;
  }

  private check(lease: string): void {
    const at = this.expiredAt.get(lease);
    const r = this.reliesUntil.get(lease);
    if (at === undefined || !r || at >= r.until) return;
    throw new SafetyViolation(
      'lease-expired-early',
      `lease ${lease} expired at true time ${at.toFixed(2)}, but a refresh sent at ${r.sentAt} and acknowledged lets its holder rely on it until ${r.until.toFixed(2)} (TTL ${this.ttlTicks} ticks, drift allowance ${this.allowanceTicks.toFixed(2)})`,
    );
  }
}

interface Holding {
  readonly clientId: number;
  readonly lease: string;
  readonly token: number;
  /** True time the read that showed this holder the oldest was served. */
  readonly start: number;
  /** True time its release was first sent (Infinity: never). */
  releaseSent: number;
}

/** The lock rule: holders' turns never overlap, tokens increase with them. */
class LockRule {
  readonly holdings: Holding[] = [];
  private readonly leases: LeaseRule;
  constructor(leases: LeaseRule) {
    this.leases = leases;
  }

  end(h: Holding): number {
    return Math.min(h.releaseSent, this.leases.until(h.lease));
  }

  acquired(h: Holding): void {
    for (const prev of this.holdings) this.compare(prev, h);
    this.holdings.push(h);
  }

  /** Every pair again at the end (a turn's end is known only once it is over). */
  checkAll(): void {
    for (let i = 0; i < this.holdings.length; i++) for (let j = i + 1; j < this.holdings.length; j++) this.compare(this.holdings[i]!, this.holdings[j]!);
  }

  private compare(a: Holding, b: Holding): void {
    const [first, second] = a.start <= b.start ? [a, b] : [b, a];
    if (second.token < first.token) {
      throw new SafetyViolation('lock-holders-overlap', `fencing token ${second.token} (client ${second.clientId}, turn from ${second.start.toFixed(2)}) came after token ${first.token} (client ${first.clientId}, from ${first.start.toFixed(2)})`);
    }
    if (second.token === first.token && second.clientId === first.clientId) return; // the same turn seen twice
    if (second.start < this.end(first)) {
      throw new SafetyViolation(
        'lock-holders-overlap',
        `client ${second.clientId} held the lock with token ${second.token} from true time ${second.start.toFixed(2)}, while client ${first.clientId}'s turn (token ${first.token}, lease ${first.lease}) lasted until ${this.end(first).toFixed(2)}`,
      );
    }
  }
}

abstract class CoordClient {
  protected readonly w: CoordinationWorkload;
  readonly id: number;
  constructor(w: CoordinationWorkload, id: number) {
    this.w = w;
    this.id = id;
  }
  abstract step(): void;
  abstract get idle(): boolean;
}

class BankClient extends CoordClient {
  private readonly main: Channel;
  private n = 0;
  private seeded = false;
  constructor(w: CoordinationWorkload, id: number) {
    super(w, id);
    this.main = new Channel(w, id);
  }

  get idle(): boolean {
    return !this.main.busy;
  }

  step(): void {
    this.main.step();
    if (this.main.busy || !this.w.mayStart()) return;
    this.w.started += 1;
    const rng = this.w.rng;
    if (!this.seeded) {
      // Open the accounts once (whoever comes first): every later transfer keeps the total.
      this.seeded = true;
      this.txn({ compare: [{ key: ACCOUNTS[0], target: 'revision', op: '==', value: 0 }], success: ACCOUNTS.map((key) => ({ put: { key, value: String(BALANCE) } })), failure: [{ get: { key: ACCOUNTS[0] } }] });
      return;
    }
    const n = ++this.n;
    const roll = randomBelow(rng, 100);
    if (roll < 10) {
      this.txn({ compare: [], success: [{ put: { key: `tmp/${this.id}.${n}`, value: `t${this.id}.${n}` } }], failure: [] });
      return;
    }
    if (roll < 14) {
      this.txn({ compare: [], success: [{ deletePrefix: { prefix: 'tmp/' } }], failure: [] });
      return;
    }
    if (roll < 34) {
      this.txn({ compare: [], success: ACCOUNTS.map((key) => ({ get: { key } })), failure: [] });
      return;
    }
    const i = randomBelow(rng, ACCOUNTS.length);
    const from = ACCOUNTS[i]!;
    const to = ACCOUNTS[(i + 1 + randomBelow(rng, ACCOUNTS.length - 1)) % ACCOUNTS.length]!;
    this.txn({ compare: [], success: [{ get: { key: from } }, { get: { key: to } }], failure: [] }, (r) => {
      if (r.kind !== 'txn' || !this.w.mayStart()) return;
      const [f, t] = r.results;
      if (f?.kind !== 'get' || t?.kind !== 'get' || !f.item || !t.item) return;
      this.w.started += 1;
      const amount = 1 + randomBelow(this.w.rng, 5);
      const compare: TxnCompare[] = [
        { key: from, target: 'revision', op: '==', value: f.item.revision },
        { key: to, target: 'revision', op: '==', value: t.item.revision },
      ];
      this.txn({
        compare,
        success: [{ put: { key: from, value: String(Number(f.item.value) - amount) } }, { put: { key: to, value: String(Number(t.item.value) + amount) } }],
        failure: [{ get: { key: from } }],
      });
    });
  }

  private txn(t: { compare: TxnCompare[]; success: TxnOp[]; failure: TxnOp[] }, then?: (r: KvResult) => void): void {
    const input: CoordInput = { kind: 'txn', ...t };
    this.main.request(input, (id) => ({ kind: 'txn', id, ...t }), (o) => {
      if (o.kind === 'result') then?.(o.result);
    });
  }
}

type LockPhase =
  | { readonly kind: 'idle' }
  | { readonly kind: 'granting' }
  | { readonly kind: 'joining'; readonly lease: string }
  | { readonly kind: 'waiting'; readonly lease: string; readonly key: string; readonly giveUpAt: number; nextReadAt: number }
  | { readonly kind: 'holding'; readonly lease: string; readonly key: string; readonly holding: Holding; readonly releaseAt: number; wrote: boolean }
  | { readonly kind: 'leaving'; readonly lease: string };

class LockClient extends CoordClient {
  private readonly main: Channel;
  private readonly keepAlive: Channel;
  private phase: LockPhase = { kind: 'idle' };
  /** The lease kept alive (null: none, or abandoned: left to expire). */
  private lease: string | null = null;
  private nextKeepAliveAt = 0;
  constructor(w: CoordinationWorkload, id: number) {
    super(w, id);
    this.main = new Channel(w, id);
    this.keepAlive = new Channel(w, id + 1000);
  }

  get idle(): boolean {
    return !this.main.busy && !this.keepAlive.busy;
  }

  step(): void {
    this.main.step();
    this.keepAlive.step();
    const now = this.w.cluster.now;
    const lease = this.lease;
    if (lease !== null && !this.keepAlive.busy && now >= this.nextKeepAliveAt) {
      const sentAt = now;
      this.keepAlive.request({ kind: 'lease-keepalive', lease }, (id) => ({ kind: 'lease-keepalive', id, lease }), (o) => {
        if (o.kind !== 'result') return;
        if (o.result.kind === 'lease') this.w.leaseRule.acknowledged(lease, sentAt);
        else if (this.lease === lease) this.abandon(); // the lease is gone: so is the key
      });
      this.nextKeepAliveAt = now + Math.max(1, Math.floor(this.w.options.ttlTicks / 3));
    }
    if (this.main.busy) return;
    const p = this.phase;
    switch (p.kind) {
      case 'idle': {
        if (!this.w.mayStart()) return;
        this.w.started += 1;
        this.phase = { kind: 'granting' };
        const ttlMs = this.w.options.ttlTicks * this.w.options.tickMs;
        const sentAt = now;
        this.main.request({ kind: 'lease-grant' }, (id) => ({ kind: 'lease-grant', id, ttlMs }), (o) => {
          if (o.kind !== 'result' || o.result.kind !== 'lease') {
            this.phase = { kind: 'idle' };
            return;
          }
          this.w.knownLeases.add(o.result.lease);
          this.w.leaseRule.acknowledged(o.result.lease, sentAt);
          this.lease = o.result.lease;
          this.nextKeepAliveAt = now + Math.max(1, Math.floor(this.w.options.ttlTicks / 3));
          this.phase = { kind: 'joining', lease: o.result.lease };
        });
        return;
      }
      case 'joining': {
        const key = `${LOCK_PREFIX}${p.lease}`;
        const t = { compare: [{ key, target: 'create_revision' as const, op: '==' as const, value: 0 }], success: [{ put: { key, value: `c${this.id}`, lease: p.lease } }], failure: [{ get: { key } }] };
        this.w.started += 1;
        this.main.request({ kind: 'txn', ...t }, (id) => ({ kind: 'txn', id, ...t }), (o) => {
          if (o.kind !== 'result' || o.result.kind !== 'txn') return this.abandon();
          this.phase = { kind: 'waiting', lease: p.lease, key, giveUpAt: this.w.cluster.now + randomInt(this.w.rng, 1, 4) * this.w.options.ttlTicks, nextReadAt: this.w.cluster.now };
        });
        return;
      }
      case 'waiting': {
        if (now >= p.giveUpAt || this.w.exhausted) return this.leave(p.lease, p.key, null);
        if (now < p.nextReadAt) return;
        this.main.readLock(p.key, (view) => {
          if (this.phase !== p) return;
          p.nextReadAt = this.w.cluster.now + randomInt(this.w.rng, 1, 5);
          if (!view) return;
          if (!view.mine) return this.abandon(); // our key is gone: the lease ended
          if (view.owner?.key !== p.key) return;
          const holding: Holding = { clientId: this.id, lease: p.lease, token: view.mine.createRevision, start: this.w.cluster.eventTime, releaseSent: Number.POSITIVE_INFINITY };
          this.w.lockRule.acquired(holding);
          this.w.turns += 1;
          this.phase = { kind: 'holding', lease: p.lease, key: p.key, holding, releaseAt: this.w.cluster.now + randomInt(this.w.rng, 1, Math.max(2, this.w.options.ttlTicks)), wrote: false };
        });
        return;
      }
      case 'holding': {
        if (!p.wrote) {
          p.wrote = true;
          const t = { compare: [{ key: p.key, target: 'create_revision' as const, op: '==' as const, value: p.holding.token }], success: [{ put: { key: FENCED_KEY, value: `c${this.id}:${p.holding.token}` } }], failure: [] };
          this.w.started += 1;
          this.main.request({ kind: 'txn', ...t }, (id) => ({ kind: 'txn', id, ...t }), (o) => {
            if (o.kind !== 'result' || o.result.kind !== 'txn') return;
            if (o.result.succeeded) {
              this.w.fencedWrites += 1;
              return;
            }
            const now = this.w.cluster.eventTime;
            if (now < this.w.leaseRule.until(p.lease)) {
              throw new SafetyViolation('lock-lost-while-lease-lives', `client ${this.id}'s fenced write (token ${p.holding.token}) was refused at true time ${now.toFixed(2)}, though its lease ${p.lease} may be relied on until ${this.w.leaseRule.until(p.lease).toFixed(2)}`);
            }
          });
          return;
        }
        if (now < p.releaseAt && !this.w.exhausted) return;
        if (chance(this.w.rng, this.w.options.dieRate)) {
          this.w.deaths += 1;
          return this.abandon(); // dies holding it: the lease must expire for the next holder
        }
        return this.leave(p.lease, p.key, p.holding);
      }
      case 'granting':
      case 'leaving':
        return;
    }
  }

  /** Release (delete our key if it is still ours), then revoke the lease. */
  private leave(lease: string, key: string, holding: Holding | null): void {
    this.phase = { kind: 'leaving', lease };
    if (holding) holding.releaseSent = this.w.cluster.now;
    const t = { compare: [{ key, target: 'create_revision' as const, op: '!=' as const, value: 0 }], success: [{ delete: { key } }], failure: [] };
    this.main.request({ kind: 'txn', ...t }, (id) => ({ kind: 'txn', id, ...t }), () => {
      this.lease = null;
      this.main.request({ kind: 'lease-revoke', lease }, (id) => ({ kind: 'lease-revoke', id, lease }), () => {
        this.phase = { kind: 'idle' };
      });
    });
  }

  /** Stop keeping the lease alive and forget the lock: the leader's expiry ends it (and deletes the key). */
  private abandon(): void {
    this.lease = null;
    this.phase = { kind: 'idle' };
  }
}

/** One watch across reconnections, as a client of the watch API would keep it. */
class WatchClient {
  readonly records: { filter: WatchFilter; from: number | undefined; events: WatchedEvent[] }[] = [];
  private session: { readonly r: SimProcess; readonly incarnation: number; readonly watcher: Watcher; readonly closeAt: number } | null = null;
  /** The next revision to ask for (undefined: from now on, a fresh record). */
  private next: number | undefined;
  private readonly filter: WatchFilter;
  private readonly w: CoordinationWorkload;
  constructor(w: CoordinationWorkload, which: number) {
    this.w = w;
    this.filter = which === 0 ? { prefix: 'bank/' } : which === 1 ? { prefix: '' } : { key: FENCED_KEY };
    this.next = undefined;
  }

  step(): void {
    const cluster = this.w.cluster;
    const s = this.session;
    if (s) {
      const alive = s.r.runner !== null && s.r.incarnation === s.incarnation && s.r.watches !== null && !s.watcher.closed;
      if (!alive) this.session = null;
      else if (cluster.now >= s.closeAt) {
        s.r.watches!.close(s.watcher, true); // the connection's time is up: a last progress event, then the end
        this.session = null;
        this.w.reconnects += 1;
      }
      if (this.session) return;
    }
    if (!this.w.watching) return;
    const up = cluster.ids.map((id) => cluster.replica(id)).filter((r) => r.runner !== null && r.runner.keepsData && r.stall === null && !cluster.cutOffFromClients.has(r.id) && r.watches !== null);
    if (up.length === 0) return;
    const r = up[randomBelow(this.w.rng, up.length)]!;
    if (this.next === undefined || this.records.length === 0) this.records.push({ filter: this.filter, from: this.next, events: [] });
    const record = this.records[this.records.length - 1]!;
    const sink = {
      send: (events: readonly WatchEvent[]) => {
        for (const e of events) {
          record.events.push(e.type === 'put' ? { type: 'put', key: e.key, value: e.value, revision: e.revision } : e);
          if (e.type === 'compacted') this.next = undefined;
          else this.next = Math.max(this.next ?? 0, e.revision + 1);
          if (e.type === 'put' || e.type === 'delete') this.w.watchEvents += 1;
        }
      },
      close: () => {},
    };
    const opened = r.watches!.open(this.filter, this.next, sink, r.sm.appliedThrough);
    if (opened.kind === 'compacted') {
      record.events.push({ type: 'compacted', first_revision: opened.firstRevision });
      this.next = undefined;
      this.w.compactedWatches += 1;
      return;
    }
    this.session = { r, incarnation: r.incarnation, watcher: opened.watcher, closeAt: cluster.now + randomInt(this.w.rng, 5, this.w.options.watchTicksMax) };
  }

}

/**
 * The coordination clients and watchers of one run, and the rules they check.
 * `step` once per tick (after the cluster's faults), like the KV workload.
 */
export class CoordinationWorkload implements ApplyListener {
  readonly history: CoordOperation[] = [];
  readonly leaseRule: LeaseRule;
  readonly lockRule: LockRule;
  /** Leases whose grant some client learned (only their expiries can be placed in the history). */
  readonly knownLeases = new Set<string>();
  /** The cluster's expiries, as operations at the instant the first replica applied each. */
  private readonly expiries = new Map<string, CoordOperation>();

  /** The clients' operations and the expiries of every lease a client learned of: what the coordination model checks. */
  checkedHistory(): CoordOperation[] {
    return [...this.history, ...[...this.expiries].filter(([lease]) => this.knownLeases.has(lease)).map(([, op]) => op)];
  }
  /** Slot -> the changes applied there (from the first replica that applied it); every slot applied anywhere is in `appliedSlots`. */
  private readonly changes = new Map<number, readonly KvChange[]>();
  private appliedMax = 0;
  private readonly clients: CoordClient[] = [];
  private readonly watchClients: WatchClient[] = [];
  started = 0;
  retries = 0;
  turns = 0;
  deaths = 0;
  fencedWrites = 0;
  watchEvents = 0;
  reconnects = 0;
  compactedWatches = 0;
  allowGiveUp = true;
  /** False once the run is over: watchers stop reconnecting. */
  watching = true;

  readonly cluster: SimCluster;
  readonly rng: Rng;
  readonly options: CoordinationOptions;
  constructor(cluster: SimCluster, rng: Rng, options: CoordinationOptions) {
    this.cluster = cluster;
    this.rng = rng;
    this.options = options;
    this.leaseRule = new LeaseRule(options.ttlTicks, options.rho * options.ttlTicks);
    this.lockRule = new LockRule(this.leaseRule);
    let id = 100;
    for (let i = 0; i < options.bankClients; i++) this.clients.push(new BankClient(this, ++id));
    for (let i = 0; i < options.lockClients; i++) this.clients.push(new LockClient(this, ++id));
    for (let i = 0; i < options.watchers; i++) this.watchClients.push(new WatchClient(this, i % 3));
    cluster.applyListener = this;
  }

  get exhausted(): boolean {
    return this.started >= this.options.operations;
  }

  mayStart(): boolean {
    return !this.exhausted;
  }

  get idle(): boolean {
    return this.clients.every((c) => c.idle);
  }

  step(): void {
    for (const c of this.clients) c.step();
    for (const w of this.watchClients) w.step();
    if (this.cluster.now % this.options.progressEveryTicks === 0) {
      for (const id of this.cluster.ids) this.cluster.replica(id).watches?.progress();
    }
    this.cluster.flush();
  }

  /** How often each coordination event happened (simulation.ts COORDINATION_COUNTERS). */
  counts(): Record<string, number> {
    return {
      'coordination: transaction': this.history.filter((o) => o.input.kind === 'txn').length,
      'coordination: lease granted': this.knownLeases.size,
      'coordination: lease expired': this.leaseRule.expiries,
      'coordination: lock turn': this.turns,
      'coordination: holder died holding the lock': this.deaths,
      'coordination: fenced write': this.fencedWrites,
      'coordination: watch event delivered': this.watchEvents,
      'coordination: watch reconnected': this.reconnects,
      'coordination: watch compacted': this.compactedWatches,
    };
  }

  afterApply(r: SimProcess, e: Entry, result: KvResult): void {
    if (e.slot > this.appliedMax) this.appliedMax = e.slot;
    if (result.kind === 'lease-ended' && result.how === 'expired' && !this.leaseRule.expiredAt.has(result.lease)) {
      this.leaseRule.expired(result.lease, this.cluster.eventTime);
      // Kept for every lease: a grant's answer may reach its client only after the lease expired (it was retried past the TTL).
      const instant = this.cluster.clock();
      this.expiries.set(result.lease, { clientId: 0, input: { kind: 'lease-expire', lease: result.lease }, call: instant, return: this.cluster.clock(), output: { kind: 'lease-ended', keys: result.keys, revision: result.revision } });
    }
    void r;
  }

  changed(r: SimProcess, revision: number, changes: readonly KvChange[]): void {
    void r;
    if (!this.changes.has(revision)) this.changes.set(revision, changes);
  }

  /** At the end: every pair of lock turns again, now that every turn is over (throws SafetyViolation). */
  checkTurns(): void {
    this.watching = false;
    this.lockRule.checkAll();
  }

  /** At the end: every watch against every slot's changes; what went wrong, or null. */
  checkWatches(): string | null {
    this.watching = false;
    for (const w of this.watchClients) {
      for (const rec of w.records) {
        const record: WatchRecord = { filter: rec.filter, from: rec.from, events: rec.events };
        const v = checkWatch(record, (rev) => (rev <= this.appliedMax ? (this.changes.get(rev) ?? []) : undefined));
        if (!v.ok) return `watch ${JSON.stringify(rec.filter)} from ${rec.from ?? 'now'}: ${v.message}`;
      }
    }
    return null;
  }
}

