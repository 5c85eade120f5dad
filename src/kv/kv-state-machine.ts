import { type Command, type OwnedRange, type TxnCompare, type TxnOp, type TxnOutcome, compareKey, txnOpKey, unreachable } from '../core/command.ts';
import type { StateMachine } from '../core/state-machine.ts';
import { keyHash } from './partition.ts';

/**
 * A key's current value. `revision` is the slot that last changed it (etcd's
 * mod_revision), `createRevision` the slot that created it since it was last
 * absent; `lease` the lease it is attached to, if any.
 */
export interface KvItem {
  readonly key: string;
  readonly value: string;
  readonly revision: number;
  readonly createRevision: number;
  readonly lease?: string;
}

/** The outcome of one operation of a transaction, in the order of its branch. */
export type TxnOpResult =
  | { readonly kind: 'put'; readonly revision: number }
  /** Keys removed (0 when there was none). */
  | { readonly kind: 'delete'; readonly deleted: number }
  /** The key as the transaction saw it (earlier operations of the same transaction included); null when absent. */
  | { readonly kind: 'get'; readonly key: string; readonly item: KvItem | null };

/** Why a command applied nothing (every replica refuses it alike). */
export type KvRejection =
  /** The idempotency key was first used, at `firstSlot`, for a different request. */
  | { readonly kind: 'rejected'; readonly code: 'idempotency_key_reused'; readonly firstSlot: number }
  /** A delete's compare failed (a put's has its own result, which predates this one). */
  | { readonly kind: 'rejected'; readonly code: 'revision_mismatch'; readonly currentRevision: number }
  /** A put (or a transaction's put), keep-alive or revoke named a lease that does not exist (never granted, expired or revoked). */
  | { readonly kind: 'rejected'; readonly code: 'lease_not_found'; readonly lease: string }
  /** A keep-alive or revoke of a lease with a key outside the caller's key prefixes. */
  | { readonly kind: 'rejected'; readonly code: 'forbidden'; readonly lease: string; readonly key: string }
  /** A transaction whose gets would read more than TXN_READ_BYTES_MAX. */
  | { readonly kind: 'rejected'; readonly code: 'txn_too_large'; readonly readBytes: number }
  /** Malformed (the API validates first; this only keeps a bad command from throwing on every replica). */
  | { readonly kind: 'rejected'; readonly code: 'invalid_command'; readonly message: string }
  /**
   * This stream is a keyspace's shard and does not own `key` under the map
   * the command was routed by (or owns it under another version): nothing
   * applied; `version` is the shard's own map version (0: not yet assigned).
   */
  | { readonly kind: 'rejected'; readonly code: 'wrong_shard'; readonly key: string; readonly version: number }
  /** `key`'s range is being copied into this shard by a grow and is not served yet: nothing applied; retry shortly. */
  | { readonly kind: 'rejected'; readonly code: 'moving'; readonly key: string; readonly version: number }
  /** `key` holds an intent of cross-shard transaction `txid` that conflicts: nothing applied; resolve it at `coordinator`, then retry. */
  | { readonly kind: 'rejected'; readonly code: 'locked'; readonly key: string; readonly intent: IntentView };

/** An unresolved cross-shard transaction holding a key, as a request that meets it learns. */
export interface IntentView {
  readonly txid: string;
  readonly coordinator: string;
  readonly deadlineMs: number;
}

/** What this stream owns as a keyspace's shard. */
export interface ShardOwnership {
  readonly keyspace: string;
  readonly shard: number;
  readonly version: number;
  readonly ranges: readonly OwnedRange[];
  /** Ranges of `ranges` a grow is still copying in: owned under `version` but not served until a decided `shard-ready`. */
  readonly incoming?: readonly OwnedRange[];
}

/** Keys of a grow's copy per `shard-export` chunk, and their keys' and values' length (UTF-16 code units) at most (one key at least). */
export const EXPORT_KEYS_MAX = 128;
export const EXPORT_UNITS_MAX = 262_144;

/** A participant's vote in phase 1 of a cross-shard transaction. */
export type TxnVote =
  /** Every key was free: intents recorded. `holds`: whether this shard's compares hold; the results each branch's operations would answer here. */
  | { readonly kind: 'txn-vote'; readonly txid: string; readonly vote: 'yes'; readonly holds: boolean; readonly success: readonly TxnOpResult[]; readonly failure: readonly TxnOpResult[] }
  /** `key` holds a conflicting intent of `holder` (or the transaction is already aborted here): nothing recorded. */
  | { readonly kind: 'txn-vote'; readonly txid: string; readonly vote: 'no'; readonly key: string | null; readonly holder: IntentView | null };

/**
 * The outcome of applying a command. `revision` of a put or delete is the slot
 * the command was decided at; a failed compare reports the key's current
 * revision (0 when absent).
 */
export type KvResult =
  | { readonly kind: 'put'; readonly ok: true; readonly revision: number }
  | { readonly kind: 'put'; readonly ok: false; readonly code: 'revision_mismatch'; readonly currentRevision: number }
  | { readonly kind: 'delete'; readonly deleted: boolean; readonly revision: number }
  | { readonly kind: 'opaque'; readonly index: number }
  | { readonly kind: 'noop' }
  /** A configuration change took effect after this slot. */
  | { readonly kind: 'config'; readonly slot: number }
  | { readonly kind: 'txn'; readonly succeeded: boolean; readonly revision: number; readonly results: readonly TxnOpResult[] }
  /** A lease granted or kept alive. */
  | { readonly kind: 'lease'; readonly lease: string; readonly ttlMs: number }
  /** A lease revoked or expired at `revision`, with the keys that were deleted with it. */
  | { readonly kind: 'lease-ended'; readonly lease: string; readonly how: 'revoked' | 'expired'; readonly keys: readonly string[]; readonly revision: number }
  /** An expiry that came too late: the lease was kept alive (or ended) since the leader decided its time was up. */
  | { readonly kind: 'lease-kept'; readonly lease: string }
  /** A shard map version recorded (`applied`), or refused as not newer than the one held. */
  | { readonly kind: 'shard-assigned'; readonly version: number; readonly applied: boolean }
  /** A chunk of handed-off keys (key, value) in key order; `more` when keys follow `items`' last; `revision`: this shard's revision now. */
  | { readonly kind: 'shard-export'; readonly items: readonly { readonly key: string; readonly value: string }[]; readonly more: boolean; readonly revision: number }
  /** Keys installed (`applied` false: their range is not incoming here under that version, so nothing was). */
  | { readonly kind: 'shard-installed'; readonly applied: boolean; readonly keys: number }
  /** A range now served (`applied` false: it was not incoming here under that version). */
  | { readonly kind: 'shard-ready'; readonly applied: boolean }
  /** Handed-off keys deleted. */
  | { readonly kind: 'shard-dropped'; readonly keys: number }
  | TxnVote
  /** The outcome recorded for `txid` at its coordinator (null: none yet, after a query). */
  | { readonly kind: 'txn-outcome'; readonly txid: string; readonly outcome: TxnOutcome | null }
  /** A participant resolved `txid`: its intents applied at `revision` (a commit) or dropped; `applied` false when it held none. */
  | { readonly kind: 'txn-resolved'; readonly txid: string; readonly applied: boolean; readonly revision: number }
  | { readonly kind: 'txn-forgotten'; readonly txid: string }
  | KvRejection;

/** What a keyspace read finds at a shard: the answer, a key it does not own, or an intent to resolve first. */
export type ShardRead<T> =
  | { readonly kind: 'ok'; readonly value: T }
  | { readonly kind: 'wrong_shard'; readonly key: string; readonly version: number }
  /** A grow is copying `key`'s range (or, for a list, some range) into this shard: retry shortly. */
  | { readonly kind: 'moving'; readonly key: string }
  | { readonly kind: 'intent'; readonly key: string; readonly intent: IntentView };

/**
 * One change to the key space, as watches report it; every change of one command has its slot as revision.
 * `moved`: a grow's copy (`shard-install`, at the new shard) or drop (`shard-drop`, at the source) of a key
 * that moved between shards, not a write: the keyspace's contents did not change (a keyspace watch leaves it out).
 */
export type KvChange =
  | { readonly type: 'put'; readonly key: string; readonly value: string; readonly revision: number; readonly createRevision: number; readonly lease?: string; readonly moved?: true }
  | { readonly type: 'delete'; readonly key: string; readonly revision: number; readonly moved?: true };

/** Who hears of every change as it is applied (the host's watch history). */
export interface KvListener {
  /** The changes of the command applied at `revision`, in order (called only when there are some). */
  changed(revision: number, changes: readonly KvChange[]): void;
  /** The whole state was replaced by a snapshot through `appliedThrough`: changes before it are not known here. */
  restored(appliedThrough: number): void;
}

/** A lease as the replicated state holds it: nothing about wall time (the leader alone keeps deadlines). */
export interface KvLease {
  readonly id: string;
  readonly ttlMs: number;
  /** The slot of its grant or latest keep-alive. */
  readonly refreshedAt: number;
  /** Attached keys, in key order. */
  readonly keys: readonly string[];
}

/** What a lock or election sees under its prefix: the oldest key (the holder), a given key, and the key created just before it. */
export interface LockView {
  /** The key with the lowest create revision under the prefix, or null when there is none. */
  readonly owner: KvItem | null;
  /** The key asked about, or null when absent. */
  readonly mine: KvItem | null;
  /** The key with the highest create revision below `mine`'s, or null (mine is the owner, or absent). */
  readonly predecessor: KvItem | null;
  /** The last slot applied when this was read. */
  readonly revision: number;
}

export interface KvOptions {
  /** Idempotency keys remembered at most; the oldest are forgotten first. */
  readonly sessionsMax: number;
  /** A remembered key is forgotten once the log is this many slots past it. */
  readonly sessionTtlSlots: number;
}

export const DEFAULT_KV_OPTIONS: KvOptions = Object.freeze({ sessionsMax: 100_000, sessionTtlSlots: 1_000_000 });

/** Limits of one transaction (the API states them; the state machine refuses beyond them too). */
export const TXN_OPS_MAX = 128;
export const TXN_COMPARES_MAX = 64;
/** The values a transaction's gets read, in all (UTF-16 code units, counted alike on every replica). */
export const TXN_READ_BYTES_MAX = 1_048_576;
/** A lease's TTL: 1 s to 1 h. */
export const LEASE_TTL_MIN_MS = 1_000;
export const LEASE_TTL_MAX_MS = 3_600_000;

/** A lease's id: its grant's slot as 16 hex digits, so ids sort in grant order and a retried grant gets the same one. */
export function leaseIdOf(slot: number): string {
  return slot.toString(16).padStart(16, '0');
}

interface Item {
  value: string;
  revision: number;
  createRevision: number;
  lease: string | undefined;
}

interface Lease {
  readonly ttlMs: number;
  refreshedAt: number;
  readonly keys: Set<string>;
}

interface Session {
  readonly slot: number;
  readonly result: KvResult;
  /** A digest of the request (everything but its attempt id), to tell a retry from a reuse (requestDigest); a whole request in sessions restored from older snapshots. */
  readonly request: string;
}

interface KvSnapshotV1 {
  readonly v: 1;
  readonly appliedIndex: number;
  readonly items: readonly [string, string, number][];
  readonly sessions: readonly [string, number, KvResult, string][];
}

/** A prepared cross-shard transaction at a participant: its intents and what it will apply. */
interface Prepared {
  readonly coordinator: string;
  readonly deadlineMs: number;
  /** Every key it compares, reads or writes, sorted. */
  readonly keys: readonly string[];
  /** The keys either branch writes (an exclusive intent); the others are read (a shared intent). */
  readonly writes: readonly string[];
  readonly success: readonly TxnOp[];
  readonly failure: readonly TxnOp[];
  readonly vote: Extract<TxnVote, { vote: 'yes' }>;
}

/** The intents on one key: at most one writer, or any number of readers. */
interface KeyIntents {
  writer: string | null;
  readonly readers: Set<string>;
}

interface KvSnapshotV3 extends Omit<KvSnapshotV2, 'v'> {
  readonly v: 3;
  readonly ownership: ShardOwnership | null;
  readonly prepared: readonly [string, Prepared][];
  readonly outcomes: readonly [string, TxnOutcome][];
  /** What revisions add to slots (absent: 0); raised by a grow's install. */
  readonly revisionBase?: number;
}

interface KvSnapshotV2 {
  readonly v: 2;
  /** The last slot applied (named `appliedIndex` in the stored format: snapshots already stored keep being read). */
  readonly appliedIndex: number;
  /** key, value, revision, create revision, lease (or null). */
  readonly items: readonly [string, string, number, number, string | null][];
  /** id, TTL in ms, refreshed at (attached keys are in `items`). */
  readonly leases: readonly [string, number, number][];
  readonly sessions: readonly [string, number, KvResult, string][];
}

/** Commands with no session: the machinery's own (a retry of them is harmless, or answered by the state they find). */
type Sessionless = 'noop' | 'config' | 'lease-expire' | 'shard-assign' | 'shard-export' | 'shard-install' | 'shard-ready' | 'shard-drop' | 'txn-decide' | 'txn-resolve' | 'txn-forget';
const SESSIONLESS: ReadonlySet<string> = new Set<Sessionless>(['lease-expire', 'shard-assign', 'shard-export', 'shard-install', 'shard-ready', 'shard-drop', 'txn-decide', 'txn-resolve', 'txn-forget']);
type SessionCommand = Exclude<Command, { kind: Sessionless }>;
type Executable = Exclude<Command, { kind: 'noop' | 'config' | 'shard-install' }>;

/**
 * A key-value store with per-key revisions, compare-and-set, transactions,
 * leases and client sessions: a command with an idempotency key is applied
 * once and every retry gets the first result (a key reused for a different
 * request is rejected). Session memory is bounded by count and by age in
 * slots, so expiry is the same on every replica (no clocks involved). Opaque
 * log records are remembered for their sessions and otherwise ignored.
 *
 * Leases hold no time: a lease ends only by a decided `lease-revoke` or
 * `lease-expire` (the leader's LeaseKeeper proposes the latter). A command
 * that cannot apply (a failed delete compare, an unknown lease, a malformed
 * transaction) applies nothing and says why in its result, never by throwing.
 */
export class KvStateMachine implements StateMachine<KvResult> {
  private items = new Map<string, Item>();
  private leaseTable = new Map<string, Lease>();
  /** In slot order: the oldest session is first. */
  private sessions = new Map<string, Session>();
  private applied = 0;
  private readonly options: KvOptions;
  private listener: KvListener | null = null;
  /** Set when this stream is a keyspace's shard (a decided `shard-assign`). */
  private ownership: ShardOwnership | null = null;
  /** Prepared cross-shard transactions by id (this stream as a participant). */
  private prepared = new Map<string, Prepared>();
  private intents = new Map<string, KeyIntents>();
  /** Decided outcomes by transaction id (this stream as a coordinator), until forgotten. */
  private outcomes = new Map<string, TxnOutcome>();
  /**
   * What a revision adds to its slot: 0, except on a shard a grow created,
   * whose installs raise it above the source's revisions, so that a
   * revision a client holds from the source can never equal a later one
   * here (a compare-and-set with it fails rather than matching another write).
   */
  private base = 0;

  constructor(options: KvOptions = DEFAULT_KV_OPTIONS) {
    this.options = options;
    if (!(options.sessionsMax >= 1 && options.sessionTtlSlots >= 1)) {
      throw new RangeError('kv: sessionsMax and sessionTtlSlots must be at least 1');
    }
  }

  /** Hear of every change as it is applied, and of every restore (one listener; null stops). */
  listen(listener: KvListener | null): void {
    this.listener = listener;
  }

  get appliedThrough(): number {
    return this.applied;
  }

  /** The revision of the last slot applied: the slot itself, plus the base a grow raised on a shard it created. */
  get revision(): number {
    return this.applied + this.base;
  }

  apply(slot: number, command: Command): KvResult {
    if (slot !== this.applied + 1) throw new Error(`kv: applying slot ${slot} after ${this.applied}`);
    this.applied = slot;
    if (command.kind === 'shard-install') return this.install(slot, command.version, command.items, command.revisionFloor);
    // Every revision below is this slot's (plus the base: see `base`); sessions and leases count in revisions too.
    const rev = slot + this.base;
    this.expireSessions(rev);
    if (command.kind === 'noop') return { kind: 'noop' };
    if (command.kind === 'config') return { kind: 'config', slot };
    if (SESSIONLESS.has(command.kind)) return this.execute(rev, command as Executable);
    const c = command as SessionCommand;
    if (c.idempotencyKey !== undefined) {
      const seen = this.sessions.get(c.idempotencyKey);
      if (seen) {
        if (!sameRequest(seen.request, c)) return { kind: 'rejected', code: 'idempotency_key_reused', firstSlot: seen.slot };
        return seen.result;
      }
    }
    const result = this.execute(rev, c);
    this.remember(rev, c, result);
    return result;
  }

  private remember(slot: number, command: SessionCommand, result: KvResult): void {
    // A command refused for where it was sent or for a lock applied nothing and is retried with the same key once that is fixed.
    if (result.kind === 'rejected' && (result.code === 'wrong_shard' || result.code === 'locked' || result.code === 'moving')) return;
    if (command.idempotencyKey !== undefined) {
      this.sessions.set(command.idempotencyKey, { slot, result, request: requestDigest(command) });
      if (this.sessions.size > this.options.sessionsMax) {
        const oldest = this.sessions.keys().next().value as string;
        this.sessions.delete(oldest);
      }
    }
  }

  private execute(slot: number, command: Executable): KvResult {
    switch (command.kind) {
      case 'put': {
        const refused = this.shardCheck(command.mapVersion, [command.key], [command.key], command.lease !== undefined);
        if (refused) return refused;
        const current = this.items.get(command.key);
        const currentRevision = current?.revision ?? 0;
        if (command.ifRevision !== undefined && command.ifRevision !== currentRevision) {
          return { kind: 'put', ok: false, code: 'revision_mismatch', currentRevision };
        }
        if (command.lease !== undefined && !this.leaseTable.has(command.lease)) return { kind: 'rejected', code: 'lease_not_found', lease: command.lease };
        const change = this.write(slot, command.key, command.value, command.lease);
        this.emit(slot, [change]);
        return { kind: 'put', ok: true, revision: slot };
      }
      case 'delete': {
        const refused = this.shardCheck(command.mapVersion, [command.key], [command.key], false);
        if (refused) return refused;
        const current = this.items.get(command.key);
        if (command.ifRevision !== undefined && command.ifRevision !== (current?.revision ?? 0)) {
          return { kind: 'rejected', code: 'revision_mismatch', currentRevision: current?.revision ?? 0 };
        }
        const change = this.remove(slot, command.key);
        if (change) this.emit(slot, [change]);
        return { kind: 'delete', deleted: change !== null, revision: slot };
      }
      case 'opaque':
        return { kind: 'opaque', index: slot };
      case 'txn': {
        if (this.ownership !== null || command.mapVersion !== undefined) {
          const shape = txnKeys(command.compare, command.success, command.failure);
          if (typeof shape === 'string') return { kind: 'rejected', code: 'invalid_command', message: shape };
          const refused = this.shardCheck(command.mapVersion, shape.keys, shape.writes, shape.leased);
          if (refused) return refused;
        }
        return this.transaction(slot, command.compare, command.success, command.failure);
      }
      case 'shard-assign': {
        const held = this.ownership?.version ?? 0;
        if (command.version <= held) return { kind: 'shard-assigned', version: held, applied: false };
        // A hand-off: keys this shard serves now and will not own any more freeze here until copied. A transaction holding one of them
        // would resolve into the frozen copy (lost) or block the copy: refused until the intent is settled, so every intent here is on an owned key.
        const ranges = command.ranges.map((r) => ({ from: r.from, to: r.to }));
        for (const [key, held] of this.intents) {
          if (!this.owns(key) || inRanges(ranges, keyHash(key))) continue;
          const holder = held.writer ?? held.readers.values().next().value!;
          return { kind: 'rejected', code: 'locked', key, intent: this.intentView(holder) };
        }
        const incoming = (command.incoming ?? []).map((r) => ({ from: r.from, to: r.to }));
        this.ownership = { keyspace: command.keyspace, shard: command.shard, version: command.version, ranges, ...(incoming.length > 0 ? { incoming } : {}) };
        return { kind: 'shard-assigned', version: command.version, applied: true };
      }
      case 'shard-export': {
        const own = this.ownership;
        // Only keys this shard handed off (owned no more, under this version or a later one): they are frozen, so the copy is consistent.
        if (own === null || own.version < command.version || own.ranges.some((r) => r.from < command.to && command.from < r.to)) {
          return { kind: 'rejected', code: 'wrong_shard', key: '', version: own?.version ?? 0 };
        }
        const keys = [...this.items.keys()].filter((k) => (command.after === null || k > command.after) && inRanges([command], keyHash(k))).sort(byCodeUnits);
        const items: { key: string; value: string }[] = [];
        let units = 0;
        for (const k of keys) {
          const value = this.items.get(k)!.value;
          if (items.length > 0 && (items.length >= Math.min(command.limit ?? EXPORT_KEYS_MAX, EXPORT_KEYS_MAX) || units + k.length + value.length > EXPORT_UNITS_MAX)) break;
          items.push({ key: k, value });
          units += k.length + value.length;
        }
        return { kind: 'shard-export', items, more: items.length < keys.length, revision: slot };
      }
      case 'shard-ready': {
        const own = this.ownership;
        const incoming = own?.incoming ?? [];
        if (own === null || own.version !== command.version || !incoming.some((r) => r.from === command.from && r.to === command.to)) return { kind: 'shard-ready', applied: false };
        const left = incoming.filter((r) => !(r.from === command.from && r.to === command.to));
        const { incoming: _was, ...rest } = own;
        this.ownership = left.length > 0 ? { ...rest, incoming: left } : rest;
        return { kind: 'shard-ready', applied: true };
      }
      case 'shard-drop': {
        const own = this.ownership;
        if (own === null || own.version < command.version || own.ranges.some((r) => r.from < command.to && command.from < r.to)) return { kind: 'shard-dropped', keys: 0 };
        const changes: KvChange[] = [];
        for (const k of [...this.items.keys()].sort(byCodeUnits)) {
          if (!inRanges([command], keyHash(k))) continue;
          const change = this.remove(slot, k);
          if (change) changes.push({ ...change, moved: true });
        }
        this.emit(slot, changes);
        return { kind: 'shard-dropped', keys: changes.length };
      }
      case 'txn-prepare':
        return this.prepare(slot, command.txid, command.coordinator, command.deadlineMs, command.mapVersion, command.compare, command.success, command.failure);
      case 'txn-decide': {
        const recorded = this.outcomes.get(command.txid);
        if (recorded !== undefined || command.outcome === null) return { kind: 'txn-outcome', txid: command.txid, outcome: recorded ?? null };
        this.outcomes.set(command.txid, command.outcome);
        return { kind: 'txn-outcome', txid: command.txid, outcome: command.outcome };
      }
      case 'txn-resolve':
        return this.resolve(slot, command.txid, command.outcome);
      case 'txn-forget':
        this.outcomes.delete(command.txid);
        return { kind: 'txn-forgotten', txid: command.txid };
      case 'lease-grant': {
        if (!Number.isSafeInteger(command.ttlMs) || command.ttlMs < 1) return { kind: 'rejected', code: 'invalid_command', message: `lease TTL ${command.ttlMs} is not a positive integer` };
        const lease = leaseIdOf(slot);
        this.leaseTable.set(lease, { ttlMs: command.ttlMs, refreshedAt: slot, keys: new Set() });
        return { kind: 'lease', lease, ttlMs: command.ttlMs };
      }
      case 'lease-keepalive': {
        const l = this.leaseTable.get(command.lease);
        if (!l) return { kind: 'rejected', code: 'lease_not_found', lease: command.lease };
        const outside = outsidePrefixes(l.keys, command.keyPrefixes);
        if (outside !== undefined) return { kind: 'rejected', code: 'forbidden', lease: command.lease, key: outside };
        l.refreshedAt = slot;
        return { kind: 'lease', lease: command.lease, ttlMs: l.ttlMs };
      }
      case 'lease-revoke': {
        const l = this.leaseTable.get(command.lease);
        if (!l) return { kind: 'rejected', code: 'lease_not_found', lease: command.lease };
        const outside = outsidePrefixes(l.keys, command.keyPrefixes);
        if (outside !== undefined) return { kind: 'rejected', code: 'forbidden', lease: command.lease, key: outside };
        return this.endLease(slot, command.lease, 'revoked');
      }
      case 'lease-expire': {
        const l = this.leaseTable.get(command.lease);
        // Kept alive (or granted anew, or ended) since the leader decided: the later decision wins.
        if (!l || l.refreshedAt !== command.refreshedAt) return { kind: 'lease-kept', lease: command.lease };
        return this.endLease(slot, command.lease, 'expired');
      }
      default:
        return unreachable(command);
    }
  }

  /** End a lease: delete its keys (in key order, one change each) and forget it. */
  private endLease(slot: number, id: string, how: 'revoked' | 'expired'): KvResult {
    const lease = this.leaseTable.get(id)!;
    const keys = [...lease.keys].sort(byCodeUnits);
    const changes: KvChange[] = [];
    for (const key of keys) {
      const change = this.remove(slot, key);
      if (change) changes.push(change);
    }
    this.leaseTable.delete(id);
    this.emit(slot, changes);
    return { kind: 'lease-ended', lease: id, how, keys, revision: slot };
  }

  /**
   * etcd's Txn: evaluate every compare, then run the chosen branch on a
   * staged view (so a get sees the branch's earlier writes) and commit it
   * only if nothing refuses it (an unknown lease, too much read).
   */
  private transaction(slot: number, compare: readonly TxnCompare[], success: readonly TxnOp[], failure: readonly TxnOp[]): KvResult {
    const problem = txnProblem(compare, success, failure);
    if (problem !== null) return { kind: 'rejected', code: 'invalid_command', message: problem };
    const succeeded = compare.every((c) => this.holds(c));
    const ops = succeeded ? success : failure;
    const staged = this.stage(slot, ops);
    if (staged.kind === 'rejected') return staged;
    this.commit(slot, staged.writes);
    return { kind: 'txn', succeeded, revision: slot, results: staged.results };
  }

  /** Run `ops` on a staged view at `slot`, changing nothing: the writes to commit and every operation's result, or why they cannot apply. */
  private stage(slot: number, ops: readonly TxnOp[]): { kind: 'staged'; writes: Map<string, Item | null>; results: TxnOpResult[] } | KvRejection {
    for (const op of ops) {
      if ('put' in op && op.put.lease !== undefined && !this.leaseTable.has(op.put.lease)) return { kind: 'rejected', code: 'lease_not_found', lease: op.put.lease };
    }
    // Staged writes: key -> the item after this transaction (null: deleted), in the order first written.
    const staged = new Map<string, Item | null>();
    const read = (key: string): Item | null => (staged.has(key) ? staged.get(key)! : (this.items.get(key) ?? null));
    const results: TxnOpResult[] = [];
    let readBytes = 0;
    for (const op of ops) {
      if ('put' in op) {
        const before = read(op.put.key);
        const lease = op.put.ignoreLease ? before?.lease : op.put.lease;
        staged.set(op.put.key, { value: op.put.value, revision: slot, createRevision: before ? before.createRevision : slot, lease });
        results.push({ kind: 'put', revision: slot });
      } else if ('delete' in op) {
        const existed = read(op.delete.key) !== null;
        if (existed) staged.set(op.delete.key, null);
        results.push({ kind: 'delete', deleted: existed ? 1 : 0 });
      } else if ('deletePrefix' in op) {
        const prefix = op.deletePrefix.prefix;
        const keys = new Set<string>();
        for (const k of this.items.keys()) if (k.startsWith(prefix)) keys.add(k);
        for (const k of staged.keys()) if (k.startsWith(prefix)) keys.add(k);
        let deleted = 0;
        for (const k of [...keys].sort(byCodeUnits)) {
          if (read(k) === null) continue;
          staged.set(k, null);
          deleted += 1;
        }
        results.push({ kind: 'delete', deleted });
      } else {
        const item = read(op.get.key);
        if (item) readBytes += op.get.key.length + item.value.length;
        results.push({ kind: 'get', key: op.get.key, item: item ? toKvItem(op.get.key, item) : null });
      }
    }
    if (readBytes > TXN_READ_BYTES_MAX) return { kind: 'rejected', code: 'txn_too_large', readBytes };
    return { kind: 'staged', writes: staged, results };
  }

  /** Apply staged writes at `slot`, as one change set. */
  private commit(slot: number, staged: ReadonlyMap<string, Item | null>): void {
    const changes: KvChange[] = [];
    for (const [key, after] of staged) {
      if (after === null) {
        const change = this.remove(slot, key);
        if (change) changes.push(change);
      } else {
        changes.push(this.write(slot, key, after.value, after.lease));
      }
    }
    this.emit(slot, changes);
  }

  // ---------------------------------------------------------------- keyspace shards and cross-shard transactions

  /**
   * Whether a keyspace command may apply here: routed under this shard's map
   * version, every key owned, no lease (a keyspace's keys carry none), and no
   * conflicting intent (a written key must hold none; a read key no writer's).
   * A plain stream that was never assigned takes every unrouted command.
   */
  private shardCheck(mapVersion: number | undefined, keys: readonly string[], writes: readonly string[], leased: boolean): KvRejection | null {
    const own = this.ownership;
    if (own === null) return mapVersion === undefined ? null : { kind: 'rejected', code: 'wrong_shard', key: keys[0] ?? '', version: 0 };
    if (mapVersion !== undefined && mapVersion !== own.version) return { kind: 'rejected', code: 'wrong_shard', key: keys[0] ?? '', version: own.version };
    for (const key of keys) if (this.incomingHas(key)) return { kind: 'rejected', code: 'moving', key, version: own.version };
    for (const key of keys) if (!this.owns(key)) return { kind: 'rejected', code: 'wrong_shard', key, version: own.version };
    if (leased) return { kind: 'rejected', code: 'invalid_command', message: 'keys of a keyspace cannot be attached to a lease' };
    const written = new Set(writes);
    for (const key of keys) {
      const held = this.intents.get(key);
      if (!held) continue;
      const holder = held.writer ?? (written.has(key) ? held.readers.values().next().value : undefined);
      if (holder !== undefined && holder !== null) return { kind: 'rejected', code: 'locked', key, intent: this.intentView(holder) };
    }
    return null;
  }

  /** Whether this shard serves `key`: its hash falls in its ranges and not in one still incoming (every key, when this is no shard). */
  owns(key: string): boolean {
    if (this.ownership === null) return true;
    const h = keyHash(key);
    return inRanges(this.ownership.ranges, h) && !inRanges(this.ownership.incoming ?? [], h);
  }

  /** Whether `key` is in a range a grow is still copying into this shard. */
  private incomingHas(key: string): boolean {
    const incoming = this.ownership?.incoming;
    return incoming !== undefined && inRanges(incoming, keyHash(key));
  }

  /**
   * A grow's copy arriving: install `items` by key at this slot (their
   * revision and create revision), first raising the revision base so every
   * revision from here on is above `floor`. Only while every key's range is
   * incoming here under `version`: after `shard-ready` a late repeat would
   * overwrite newer writes, so it applies nothing.
   */
  private install(slot: number, version: number, items: readonly (readonly [string, string])[], floor: number): KvResult {
    const own = this.ownership;
    if (own === null || own.version !== version || !items.every(([k]) => this.incomingHas(k))) return { kind: 'shard-installed', applied: false, keys: 0 };
    if (slot + this.base <= floor) this.base = floor + 1 - slot;
    const rev = slot + this.base;
    this.expireSessions(rev);
    const changes = items.map(([k, v]) => {
      this.items.delete(k); // a fresh create revision: the key is new here
      return { ...this.write(rev, k, v, undefined), moved: true as const };
    });
    this.emit(rev, changes);
    return { kind: 'shard-installed', applied: true, keys: items.length };
  }

  private intentView(txid: string): IntentView {
    const p = this.prepared.get(txid)!;
    return { txid, coordinator: p.coordinator, deadlineMs: p.deadlineMs };
  }

  private prepare(
    slot: number,
    txid: string,
    coordinator: string,
    deadlineMs: number,
    mapVersion: number,
    compare: readonly TxnCompare[],
    success: readonly TxnOp[],
    failure: readonly TxnOp[],
  ): KvResult {
    const again = this.prepared.get(txid);
    if (again) return again.vote;
    const problem = txnProblem(compare, success, failure);
    if (problem !== null) return { kind: 'rejected', code: 'invalid_command', message: problem };
    const shape = txnKeys(compare, success, failure);
    if (typeof shape === 'string') return { kind: 'rejected', code: 'invalid_command', message: shape };
    const own = this.ownership;
    if (own === null || mapVersion !== own.version) return { kind: 'rejected', code: 'wrong_shard', key: shape.keys[0] ?? '', version: own?.version ?? 0 };
    for (const key of shape.keys) if (this.incomingHas(key)) return { kind: 'rejected', code: 'moving', key, version: own.version };
    for (const key of shape.keys) if (!this.owns(key)) return { kind: 'rejected', code: 'wrong_shard', key, version: own.version };
    if (shape.leased) return { kind: 'rejected', code: 'invalid_command', message: 'keys of a keyspace cannot be attached to a lease' };
    // Aborted already (this shard coordinates it, and a recovery got there first): locking would only delay others.
    if (this.outcomes.get(txid) === 'abort') return { kind: 'txn-vote', txid, vote: 'no', key: null, holder: null };
    const written = new Set(shape.writes);
    for (const key of shape.keys) {
      const held = this.intents.get(key);
      if (!held) continue;
      const holder = held.writer ?? (written.has(key) ? (held.readers.values().next().value ?? null) : null);
      // No waiting: a conflict is a no vote, so no transaction ever waits on another and none can deadlock.
      if (holder !== null) return { kind: 'txn-vote', txid, vote: 'no', key, holder: this.intentView(holder) };
    }
    const holds = compare.every((c) => this.holds(c));
    const onSuccess = this.stage(slot, success);
    const onFailure = this.stage(slot, failure);
    if (onSuccess.kind === 'rejected') return onSuccess;
    if (onFailure.kind === 'rejected') return onFailure;
    const vote = { kind: 'txn-vote' as const, txid, vote: 'yes' as const, holds, success: onSuccess.results, failure: onFailure.results };
    this.prepared.set(txid, { coordinator, deadlineMs, keys: shape.keys, writes: shape.writes, success, failure, vote });
    this.lock(txid, shape.keys, written);
    return vote;
  }

  private lock(txid: string, keys: readonly string[], written: ReadonlySet<string>): void {
    for (const key of keys) {
      let held = this.intents.get(key);
      if (!held) this.intents.set(key, (held = { writer: null, readers: new Set() }));
      if (written.has(key)) held.writer = txid;
      else held.readers.add(txid);
    }
  }

  private resolve(slot: number, txid: string, outcome: TxnOutcome): KvResult {
    const p = this.prepared.get(txid);
    if (!p) return { kind: 'txn-resolved', txid, applied: false, revision: slot };
    this.prepared.delete(txid);
    for (const key of p.keys) {
      const held = this.intents.get(key)!;
      if (held.writer === txid) held.writer = null;
      held.readers.delete(txid);
      if (held.writer === null && held.readers.size === 0) this.intents.delete(key);
    }
    if (outcome !== 'abort') {
      // The keys were held since the prepare, so the branch stages now exactly as it did then.
      const staged = this.stage(slot, outcome === 'commit-success' ? p.success : p.failure);
      if (staged.kind === 'rejected') throw new Error(`kv: transaction ${txid} was prepared but cannot apply: ${JSON.stringify(staged)}`);
      this.commit(slot, staged.writes);
    }
    return { kind: 'txn-resolved', txid, applied: true, revision: slot };
  }

  /** Whether a compare holds now. A value compare on an absent key never holds (etcd: a missing key has no value to compare). */
  private holds(c: TxnCompare): boolean {
    const item = this.items.get(c.key);
    if (c.target === 'value') {
      if (!item) return false;
      return c.op === '==' ? item.value === c.value : item.value !== c.value;
    }
    const actual = item ? (c.target === 'revision' ? item.revision : item.createRevision) : 0;
    const expected = c.value as number;
    switch (c.op) {
      case '==':
        return actual === expected;
      case '!=':
        return actual !== expected;
      case '<':
        return actual < expected;
      case '>':
        return actual > expected;
    }
  }

  /** Set a key (creating it if absent) and move it to `lease`'s keys; the change it makes. */
  private write(slot: number, key: string, value: string, lease: string | undefined): KvChange {
    const before = this.items.get(key);
    if (before?.lease !== undefined && before.lease !== lease) this.leaseTable.get(before.lease)?.keys.delete(key);
    if (lease !== undefined) this.leaseTable.get(lease)?.keys.add(key);
    const createRevision = before ? before.createRevision : slot;
    this.items.set(key, { value, revision: slot, createRevision, lease });
    return lease === undefined ? { type: 'put', key, value, revision: slot, createRevision } : { type: 'put', key, value, revision: slot, createRevision, lease };
  }

  /** Delete a key, detaching it from its lease; the change, or null when it was absent (no change). */
  private remove(slot: number, key: string): KvChange | null {
    const before = this.items.get(key);
    if (!before) return null;
    if (before.lease !== undefined) this.leaseTable.get(before.lease)?.keys.delete(key);
    this.items.delete(key);
    return { type: 'delete', key, revision: slot };
  }

  private emit(slot: number, changes: readonly KvChange[]): void {
    if (changes.length > 0) this.listener?.changed(slot, changes);
  }

  private expireSessions(slot: number): void {
    for (const [key, s] of this.sessions) {
      if (slot - s.slot <= this.options.sessionTtlSlots) break;
      this.sessions.delete(key);
    }
  }

  // ---------------------------------------------------------------- queries (they change nothing)

  get(key: string): KvItem | undefined {
    const item = this.items.get(key);
    return item ? toKvItem(key, item) : undefined;
  }

  /** Keys starting with `prefix` (and greater than `after`, when given), in ascending key order, at most `limit` of them. */
  list(prefix: string, limit: number, after?: string): KvItem[] {
    const keys = [...this.items.keys()].filter((k) => k.startsWith(prefix) && (after === undefined || k > after)).sort(byCodeUnits);
    return keys.slice(0, Math.max(0, limit)).map((key) => this.get(key)!);
  }

  /** This stream's keyspace ownership, or null when it is no shard. */
  get shard(): ShardOwnership | null {
    return this.ownership;
  }

  /** A keyspace read of `key` routed under `mapVersion`: the item (null: absent), or why it cannot be answered here. */
  shardGet(key: string, mapVersion: number): ShardRead<KvItem | null> {
    const refused = this.readCheck(mapVersion, key);
    if (refused) return refused;
    const writer = this.intents.get(key)?.writer;
    if (writer) return { kind: 'intent', key, intent: this.intentView(writer) };
    return { kind: 'ok', value: this.get(key) ?? null };
  }

  /**
   * A keyspace list at this shard: its keys under `prefix` after `after`, in
   * key order, at most `limit`; refused with the first key of that page that
   * a prepared transaction writes (it may appear, change or vanish).
   */
  shardList(prefix: string, limit: number, after: string | undefined, mapVersion: number): ShardRead<KvItem[]> {
    const refused = this.readCheck(mapVersion, null);
    if (refused) return refused;
    const inPage = (k: string): boolean => k.startsWith(prefix) && (after === undefined || k > after) && this.owns(k);
    const keys = new Set<string>();
    for (const k of this.items.keys()) if (inPage(k)) keys.add(k);
    for (const [k, held] of this.intents) if (held.writer !== null && inPage(k)) keys.add(k);
    const page = [...keys].sort(byCodeUnits).slice(0, Math.max(0, limit));
    for (const k of page) {
      const writer = this.intents.get(k)?.writer;
      if (writer) return { kind: 'intent', key: k, intent: this.intentView(writer) };
    }
    return { kind: 'ok', value: page.filter((k) => this.items.has(k)).map((k) => this.get(k)!) };
  }

  private readCheck(mapVersion: number, key: string | null): ShardRead<never> | null {
    const version = this.ownership?.version ?? 0;
    if (version !== mapVersion) return { kind: 'wrong_shard', key: key ?? '', version };
    // A list covers every range: while one is still being copied in, its keys are not all here yet.
    if (key === null ? (this.ownership?.incoming?.length ?? 0) > 0 : this.incomingHas(key)) return { kind: 'moving', key: key ?? '' };
    if (key !== null && !this.owns(key)) return { kind: 'wrong_shard', key, version };
    return null;
  }

  /** The cross-shard transactions prepared here and not yet resolved, by id. */
  preparedIds(): string[] {
    return [...this.prepared.keys()].sort(byCodeUnits);
  }

  /** The intent prepared transaction `txid` holds here, as a request meeting it learns it; undefined when none is prepared. */
  intentOf(txid: string): IntentView | undefined {
    return this.prepared.has(txid) ? this.intentView(txid) : undefined;
  }

  /** The outcome recorded here for `txid` (this stream as coordinator), if any. */
  outcome(txid: string): TxnOutcome | undefined {
    return this.outcomes.get(txid);
  }

  /** A lease, or undefined when it does not exist (never granted, or ended). */
  lease(id: string): KvLease | undefined {
    const l = this.leaseTable.get(id);
    return l ? { id, ttlMs: l.ttlMs, refreshedAt: l.refreshedAt, keys: [...l.keys].sort(byCodeUnits) } : undefined;
  }

  /** Every lease, in id (grant) order. */
  leases(): KvLease[] {
    return [...this.leaseTable.keys()].sort(byCodeUnits).map((id) => this.lease(id)!);
  }

  /**
   * The queue under `prefix` by create revision (locks and elections): the
   * oldest key, `key` itself, and the key created just before it.
   */
  lockView(prefix: string, key: string | null): LockView {
    let owner: [string, Item] | null = null;
    let predecessor: [string, Item] | null = null;
    const mine = key === null ? undefined : this.items.get(key);
    for (const [k, item] of this.items) {
      if (!k.startsWith(prefix)) continue;
      if (!owner || item.createRevision < owner[1].createRevision) owner = [k, item];
      if (mine && item.createRevision < mine.createRevision && (!predecessor || item.createRevision > predecessor[1].createRevision)) predecessor = [k, item];
    }
    return {
      owner: owner ? toKvItem(owner[0], owner[1]) : null,
      mine: mine && key !== null && key.startsWith(prefix) ? toKvItem(key, mine) : null,
      predecessor: predecessor ? toKvItem(predecessor[0], predecessor[1]) : null,
      revision: this.revision,
    };
  }

  get size(): number {
    return this.items.size;
  }

  get sessionCount(): number {
    return this.sessions.size;
  }

  get records(): number {
    return this.items.size + this.sessions.size + this.leaseTable.size + this.prepared.size + this.outcomes.size;
  }

  snapshot(): string {
    const items = [...this.items.entries()]
      .sort(([a], [b]) => byCodeUnits(a, b))
      .map(([k, v]): [string, string, number, number, string | null] => [k, v.value, v.revision, v.createRevision, v.lease ?? null]);
    const leases = [...this.leaseTable.entries()].sort(([a], [b]) => byCodeUnits(a, b)).map(([id, l]): [string, number, number] => [id, l.ttlMs, l.refreshedAt]);
    const sessions = [...this.sessions.entries()].map(([k, s]): [string, number, KvResult, string] => [k, s.slot, s.result, s.request]);
    if (this.ownership === null && this.prepared.size === 0 && this.outcomes.size === 0) {
      // A plain stream keeps writing the format every earlier version reads.
      const snap: KvSnapshotV2 = { v: 2, appliedIndex: this.applied, items, leases, sessions };
      return JSON.stringify(snap);
    }
    const prepared = [...this.prepared.entries()].sort(([a], [b]) => byCodeUnits(a, b));
    const outcomes = [...this.outcomes.entries()].sort(([a], [b]) => byCodeUnits(a, b));
    const snap: KvSnapshotV3 = { v: 3, appliedIndex: this.applied, items, leases, sessions, ownership: this.ownership, prepared, outcomes, ...(this.base > 0 ? { revisionBase: this.base } : {}) };
    return JSON.stringify(snap);
  }

  /** Restore a snapshot of this version or the previous one (v1: no leases; a key's create revision is taken to be its revision, the best it knew). */
  restore(snapshot: string): void {
    const snap = JSON.parse(snapshot) as KvSnapshotV1 | KvSnapshotV2 | KvSnapshotV3;
    this.ownership = null;
    this.prepared = new Map();
    this.intents = new Map();
    this.outcomes = new Map();
    this.base = 0;
    if (snap.v === 1) {
      this.items = new Map(snap.items.map(([k, value, revision]) => [k, { value, revision, createRevision: revision, lease: undefined }]));
      this.leaseTable = new Map();
    } else if (snap.v === 2 || snap.v === 3) {
      this.leaseTable = new Map(snap.leases.map(([id, ttlMs, refreshedAt]) => [id, { ttlMs, refreshedAt, keys: new Set<string>() }]));
      this.items = new Map(
        snap.items.map(([k, value, revision, createRevision, lease]) => {
          if (lease !== null) this.leaseTable.get(lease)?.keys.add(k);
          return [k, { value, revision, createRevision, lease: lease ?? undefined }];
        }),
      );
      if (snap.v === 3) {
        this.ownership = snap.ownership;
        this.outcomes = new Map(snap.outcomes);
        this.base = snap.revisionBase ?? 0;
        for (const [txid, p] of snap.prepared) {
          this.prepared.set(txid, p);
          this.lock(txid, p.keys, new Set(p.writes));
        }
      }
    } else {
      throw new Error(`kv: unknown snapshot version ${String((snap as { v: unknown }).v)}`);
    }
    this.sessions = new Map(snap.sessions.map(([k, slot, result, request]) => [k, { slot, result, request }]));
    this.applied = snap.appliedIndex;
    this.listener?.restored(this.revision);
  }
}

function toKvItem(key: string, item: Item): KvItem {
  return item.lease === undefined
    ? { key, value: item.value, revision: item.revision, createRevision: item.createRevision }
    : { key, value: item.value, revision: item.revision, createRevision: item.createRevision, lease: item.lease };
}

function inRanges(ranges: readonly OwnedRange[], hash: number): boolean {
  return ranges.some((r) => hash >= r.from && hash < r.to);
}

/** Plain code-unit order (what `<` on strings does), the same on every replica. */
function byCodeUnits(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** The first key (in key order) outside every prefix, or undefined when all are inside (or no prefixes apply). */
function outsidePrefixes(keys: ReadonlySet<string>, prefixes: readonly string[] | undefined): string | undefined {
  if (prefixes === undefined) return undefined;
  return [...keys].sort(byCodeUnits).find((k) => !prefixes.some((p) => k.startsWith(p)));
}

/**
 * The keys a transaction touches (compares, every operation of both
 * branches), which of them it writes, and whether a put takes a lease; or
 * why a keyspace cannot run it (a delete_prefix spans every shard).
 */
export function txnKeys(compare: readonly TxnCompare[], success: readonly TxnOp[], failure: readonly TxnOp[]): { keys: string[]; writes: string[]; leased: boolean } | string {
  const keys = new Set<string>();
  const writes = new Set<string>();
  let leased = false;
  for (const c of compare) keys.add(c.key);
  for (const op of [...success, ...failure]) {
    if ('deletePrefix' in op) return 'a keyspace transaction cannot delete_prefix (the prefix spans every shard): delete the keys one by one';
    if ('put' in op) {
      keys.add(op.put.key);
      writes.add(op.put.key);
      if (op.put.lease !== undefined) leased = true;
    } else if ('delete' in op) {
      keys.add(op.delete.key);
      writes.add(op.delete.key);
    } else {
      keys.add(op.get.key);
    }
  }
  return { keys: [...keys].sort(byCodeUnits), writes: [...writes].sort(byCodeUnits), leased };
}

/**
 * Why a transaction is malformed, or null: the limits, compare shapes, and
 * etcd's rule that a branch writes no key twice (a put's key is neither put
 * nor deleted again, nor under a delete_prefix of the same branch).
 */
export function txnProblem(compare: readonly TxnCompare[], success: readonly TxnOp[], failure: readonly TxnOp[]): string | null {
  if (compare.length > TXN_COMPARES_MAX) return `at most ${TXN_COMPARES_MAX} compares`;
  if (success.length + failure.length > TXN_OPS_MAX) return `at most ${TXN_OPS_MAX} operations (success and failure together)`;
  for (const [i, c] of compare.entries()) {
    if (typeof c.key !== 'string' || c.key === '') return `compare[${i}]: the key must not be empty`;
    if (c.target === 'value') {
      if (typeof c.value !== 'string') return `compare[${i}]: a value compare takes a string`;
      if (c.op !== '==' && c.op !== '!=') return `compare[${i}]: a value compare takes == or !=; < and > apply to revisions only`;
    } else if (c.target === 'revision' || c.target === 'create_revision') {
      if (typeof c.value !== 'number' || !Number.isSafeInteger(c.value) || c.value < 0) return `compare[${i}]: a revision compare takes a revision (0 or more)`;
      if (!['==', '!=', '<', '>'].includes(c.op)) return `compare[${i}]: unknown operator`;
    } else {
      return `compare[${i}]: unknown target`;
    }
  }
  for (const [name, ops] of [['success', success], ['failure', failure]] as const) {
    const written = new Set<string>();
    const prefixes: string[] = [];
    for (const [i, op] of ops.entries()) {
      const where = `${name}[${i}]`;
      if ('put' in op) {
        if (op.put.key === '') return `${where}: the key must not be empty`;
        if (op.put.lease !== undefined && op.put.ignoreLease) return `${where}: a put takes a lease or ignore_lease, not both`;
      } else if ('delete' in op) {
        if (op.delete.key === '') return `${where}: the key must not be empty`;
      } else if ('get' in op) {
        if (op.get.key === '') return `${where}: the key must not be empty`;
      } else if (!('deletePrefix' in op)) {
        return `${where}: unknown operation`;
      }
      if ('deletePrefix' in op) prefixes.push(op.deletePrefix.prefix);
    }
    for (const [i, op] of ops.entries()) {
      const key = 'put' in op ? op.put.key : 'delete' in op ? op.delete.key : null;
      if (key === null) continue;
      if (written.has(key)) return `${name}[${i}]: key '${key}' is written twice in one branch`;
      written.add(key);
    }
    for (const [i, op] of ops.entries()) {
      if ('put' in op && prefixes.some((p) => op.put.key.startsWith(p))) return `${name}[${i}]: key '${op.put.key}' is put and deleted (by a delete_prefix) in one branch`;
    }
  }
  return null;
}

/** A client request without its attempt id: retries of one request are equal, reuses of a key for another are not. */
/**
 * What a session keeps of its request: a 64-bit digest of `requestOf`, not the
 * request itself. A session lives for up to `sessionsMax` later writes, and
 * the request holds the value written: kept whole, 100 000 sessions of 64 KiB
 * writes would be gigabytes in a Durable Object's memory and in every
 * snapshot. The digest only has to tell a retry from a different request
 * under the same key (two independent FNV-1a lanes, each finished with
 * MurmurHash3's avalanche); `#` marks it apart from the whole requests that
 * sessions in older snapshots hold (they start with `[`).
 */
function requestDigest(c: SessionCommand): string {
  const text = requestOf(c);
  let a = 0x811c9dc5;
  let b = 0x01000193 ^ text.length;
  for (let i = 0; i < text.length; i++) {
    const ch = text.charCodeAt(i);
    a = Math.imul(a ^ ch, 0x01000193);
    b = Math.imul(b ^ ch, 0x5bd1e995);
  }
  return `#${hex32(avalanche(a))}${hex32(avalanche(b ^ a))}`;
}

function avalanche(h: number): number {
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

function hex32(n: number): string {
  return n.toString(16).padStart(8, '0');
}

/** Whether a session's stored request (a digest, or a whole request from an older snapshot) is `c`'s. */
function sameRequest(stored: string, c: SessionCommand): boolean {
  return stored.startsWith('#') ? stored === requestDigest(c) : stored === requestOf(c);
}

function requestOf(c: SessionCommand): string {
  switch (c.kind) {
    case 'put':
      return JSON.stringify(['put', c.key, c.value, c.ifRevision ?? null, ...(c.lease !== undefined ? [c.lease] : [])]);
    case 'delete':
      return JSON.stringify(['delete', c.key, ...(c.ifRevision !== undefined ? [c.ifRevision] : [])]);
    case 'opaque':
      return JSON.stringify(['opaque', c.data]);
    case 'txn':
      return JSON.stringify(['txn', c.compare.map(compareKey), c.success.map(txnOpKey), c.failure.map(txnOpKey)]);
    case 'lease-grant':
      return JSON.stringify(['lease-grant', c.ttlMs]);
    case 'lease-keepalive':
      return JSON.stringify(['lease-keepalive', c.lease]);
    case 'lease-revoke':
      return JSON.stringify(['lease-revoke', c.lease]);
    case 'txn-prepare':
      return JSON.stringify(['txn-prepare', c.txid, c.coordinator, c.deadlineMs, c.mapVersion, c.compare.map(compareKey), c.success.map(txnOpKey), c.failure.map(txnOpKey)]);
    default:
      return unreachable(c);
  }
}
