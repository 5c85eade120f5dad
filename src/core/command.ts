import { type Configuration, configurationKey } from './configuration.ts';

/**
 * What a log slot holds. The consensus code treats every command but `noop` as
 * opaque; state machines give them meaning. Every client command carries an
 * `id` unique to one proposal attempt (hosts use it to find the waiting caller)
 * and may carry an `idempotencyKey` shared by all attempts of one client
 * request (state machines use it to apply the request once).
 */
export type Command =
  | NoopCommand
  | PutCommand
  | DeleteCommand
  | OpaqueCommand
  | ConfigCommand
  | TxnCommand
  | LeaseGrantCommand
  | LeaseKeepAliveCommand
  | LeaseRevokeCommand
  | LeaseExpireCommand
  | ShardAssignCommand
  | ShardExportCommand
  | ShardInstallCommand
  | ShardReadyCommand
  | ShardDropCommand
  | TxnPrepareCommand
  | TxnDecideCommand
  | TxnResolveCommand
  | TxnForgetCommand;

/** Fills a hole a new leader found in the log; applies to nothing. */
export interface NoopCommand {
  readonly kind: 'noop';
}

/**
 * Write `value` under `key`; with `ifRevision`, only if the key's revision
 * equals it (0 = absent). With `lease`, the key is attached to that lease (and
 * deleted when it ends); without, it is attached to none (as etcd's put).
 */
export interface PutCommand {
  readonly kind: 'put';
  readonly id: string;
  readonly key: string;
  readonly value: string;
  readonly ifRevision?: number;
  readonly lease?: string;
  readonly idempotencyKey?: string;
  /** Sent by a keyspace's router: the shard map version it routed by (a shard under another version refuses, `wrong_shard`). */
  readonly mapVersion?: number;
  /** Sent by a keyspace's router: the region of the shard's replicas nearest the writer (what a shard under `leaders: follow` counts). */
  readonly origin?: string;
}

/** Remove `key`, whether or not it exists; with `ifRevision`, only if the key's revision equals it. */
export interface DeleteCommand {
  readonly kind: 'delete';
  readonly id: string;
  readonly key: string;
  readonly ifRevision?: number;
  readonly idempotencyKey?: string;
  readonly mapVersion?: number;
  readonly origin?: string;
}

/** A transaction's condition on one key (etcd's Compare): `<` and `>` only for revisions. */
export interface TxnCompare {
  readonly key: string;
  /** `revision`: the slot that last changed the key (0: absent); `create_revision`: the slot that created it. */
  readonly target: 'revision' | 'create_revision' | 'value';
  readonly op: '==' | '!=' | '<' | '>';
  readonly value: number | string;
}

/** One operation of a transaction's branch (etcd's RequestOp). */
export type TxnOp =
  | { readonly put: { readonly key: string; readonly value: string; readonly lease?: string; readonly ignoreLease?: boolean } }
  | { readonly delete: { readonly key: string } }
  | { readonly deletePrefix: { readonly prefix: string } }
  | { readonly get: { readonly key: string } };

/**
 * etcd's Txn as one decided command: if every compare holds, the `success`
 * operations apply, else the `failure` ones, in order, all at this slot.
 */
export interface TxnCommand {
  readonly kind: 'txn';
  readonly id: string;
  readonly compare: readonly TxnCompare[];
  readonly success: readonly TxnOp[];
  readonly failure: readonly TxnOp[];
  readonly idempotencyKey?: string;
  readonly mapVersion?: number;
  readonly origin?: string;
}

/** A range of key hashes `[from, to)` (partition.ts in src/kv). */
export interface OwnedRange {
  readonly from: number;
  readonly to: number;
}

/**
 * Make this stream shard `shard` of keyspace `keyspace` under shard map
 * `version`, owning the keys whose hash falls in `ranges`. Only a newer
 * version replaces an older one; from then on a command for a key outside
 * the ranges, or routed under another version, applies nothing.
 */
export interface ShardAssignCommand {
  readonly kind: 'shard-assign';
  readonly id: string;
  readonly keyspace: string;
  readonly shard: number;
  readonly version: number;
  readonly ranges: readonly OwnedRange[];
  /**
   * Ranges of `ranges` whose keys a grow is still copying in from another
   * shard: refused as `moving` until a decided `shard-ready` (absent: none).
   * A shard that loses ranges (a grow's hand-off) refuses the assignment
   * while a transaction's intent holds a key of them.
   */
  readonly incoming?: readonly OwnedRange[];
}

/**
 * A grow's copy, at the source shard: the keys it handed off in `[from, to)`
 * (frozen since: it no longer owns them) after `after`, in key order, a
 * chunk at a time. Decided, so the read is linearizable; changes nothing.
 */
export interface ShardExportCommand {
  readonly kind: 'shard-export';
  readonly id: string;
  readonly version: number;
  readonly from: number;
  readonly to: number;
  readonly after: string | null;
  /** Keys per chunk at most (absent, or above EXPORT_KEYS_MAX: that). */
  readonly limit?: number;
}

/**
 * A grow's copy, at the new shard: set these keys (install by key, so a
 * repeat changes nothing a client could see), only while their range is
 * still incoming there; raise the shard's revisions above `revisionFloor`
 * (the source's revision at the export) first.
 */
export interface ShardInstallCommand {
  readonly kind: 'shard-install';
  readonly id: string;
  readonly version: number;
  readonly items: readonly (readonly [string, string])[];
  readonly revisionFloor: number;
}

/** The copy of `[from, to)` is complete: the new shard serves it from now on. */
export interface ShardReadyCommand {
  readonly kind: 'shard-ready';
  readonly id: string;
  readonly version: number;
  readonly from: number;
  readonly to: number;
}

/** At the source, once the new shard is ready: delete the frozen keys of `[from, to)` it handed off. */
export interface ShardDropCommand {
  readonly kind: 'shard-drop';
  readonly id: string;
  readonly version: number;
  readonly from: number;
  readonly to: number;
}

/** The outcome a cross-shard transaction's coordinator decides: commit one branch, or abort. */
export type TxnOutcome = 'commit-success' | 'commit-failure' | 'abort';

/**
 * Phase 1 of a cross-shard transaction at one participant shard: the
 * compares and operations of both branches on this shard's keys. At apply
 * it votes no if any of these keys holds another transaction's intent (no
 * waiting, so no deadlock); else it records an intent on each key and votes
 * yes with whether its compares hold and what each operation would answer.
 */
export interface TxnPrepareCommand {
  readonly kind: 'txn-prepare';
  readonly id: string;
  readonly txid: string;
  /** The stream (a shard of the same keyspace) whose log decides the outcome. */
  readonly coordinator: string;
  /** Wall-clock milliseconds after which any request meeting an intent may abort the transaction at its coordinator. */
  readonly deadlineMs: number;
  readonly mapVersion: number;
  readonly compare: readonly TxnCompare[];
  readonly success: readonly TxnOp[];
  readonly failure: readonly TxnOp[];
  readonly idempotencyKey?: string;
  readonly origin?: string;
}

/**
 * Phase 2 at the coordinator shard: record `outcome` for `txid` unless one
 * is recorded already (the first decided wins, for good); answer the
 * recorded one. `outcome: null` only asks (it records nothing).
 */
export interface TxnDecideCommand {
  readonly kind: 'txn-decide';
  readonly id: string;
  readonly txid: string;
  readonly outcome: TxnOutcome | null;
}

/** At a participant: apply (commit) or drop (abort) the intents of `txid`; nothing if it has none. */
export interface TxnResolveCommand {
  readonly kind: 'txn-resolve';
  readonly id: string;
  readonly txid: string;
  readonly outcome: TxnOutcome;
}

/** At the coordinator, once every participant resolved: forget the outcome of `txid`. */
export interface TxnForgetCommand {
  readonly kind: 'txn-forget';
  readonly id: string;
  readonly txid: string;
}

/** Grant a lease of `ttlMs`; its id is derived from the slot it is decided at. */
export interface LeaseGrantCommand {
  readonly kind: 'lease-grant';
  readonly id: string;
  readonly ttlMs: number;
  readonly idempotencyKey?: string;
}

/**
 * Keep a lease alive: the leader restarts its TTL when it applies this.
 * `keyPrefixes`: the caller may only write keys starting with one of these;
 * a lease with a key outside them is refused (absent: any key).
 */
export interface LeaseKeepAliveCommand {
  readonly kind: 'lease-keepalive';
  readonly id: string;
  readonly lease: string;
  readonly keyPrefixes?: readonly string[];
  readonly idempotencyKey?: string;
}

/** End a lease now, deleting its keys (`keyPrefixes` as for a keep-alive). */
export interface LeaseRevokeCommand {
  readonly kind: 'lease-revoke';
  readonly id: string;
  readonly lease: string;
  readonly keyPrefixes?: readonly string[];
  readonly idempotencyKey?: string;
}

/**
 * The leader found a lease's time up: end it, deleting its keys, unless it
 * was granted or kept alive at another slot than `refreshedAt` since (a
 * keep-alive decided in between wins). Proposed only by a leader.
 */
export interface LeaseExpireCommand {
  readonly kind: 'lease-expire';
  readonly id: string;
  readonly lease: string;
  readonly refreshedAt: number;
}

/** An application log record (DCF `dcf_write` style) that the KV machine does not interpret. */
export interface OpaqueCommand {
  readonly kind: 'opaque';
  readonly id: string;
  readonly data: string;
  readonly idempotencyKey?: string;
}

/**
 * A new stream configuration (membership change). It governs every slot after
 * its own once it is decided; until then a leader decides later slots only
 * with quorums of both the old and the new configuration.
 */
export interface ConfigCommand {
  readonly kind: 'config';
  readonly id: string;
  readonly configuration: Configuration;
}

export type ClientCommand = Exclude<Command, NoopCommand>;

export const NOOP: NoopCommand = Object.freeze({ kind: 'noop' });

export function isClientCommand(c: Command): c is ClientCommand {
  return c.kind !== 'noop';
}

/** Two commands are the same value when their canonical encodings are equal. */
export function commandKey(c: Command): string {
  switch (c.kind) {
    case 'noop':
      return 'noop';
    case 'put':
      return JSON.stringify(['put', c.id, c.key, c.value, c.ifRevision ?? null, c.idempotencyKey ?? null, c.lease ?? null, c.mapVersion ?? null, c.origin ?? null]);
    case 'delete':
      return JSON.stringify(['delete', c.id, c.key, c.idempotencyKey ?? null, c.ifRevision ?? null, c.mapVersion ?? null, c.origin ?? null]);
    case 'txn':
      return JSON.stringify(['txn', c.id, c.compare.map(compareKey), c.success.map(txnOpKey), c.failure.map(txnOpKey), c.idempotencyKey ?? null, c.mapVersion ?? null, c.origin ?? null]);
    case 'shard-assign':
      return JSON.stringify(['shard-assign', c.id, c.keyspace, c.shard, c.version, c.ranges.map((r) => [r.from, r.to]), ...(c.incoming ? [c.incoming.map((r) => [r.from, r.to])] : [])]);
    case 'shard-export':
      return JSON.stringify(['shard-export', c.id, c.version, c.from, c.to, c.after, c.limit ?? null]);
    case 'shard-install':
      return JSON.stringify(['shard-install', c.id, c.version, c.items, c.revisionFloor]);
    case 'shard-ready':
      return JSON.stringify(['shard-ready', c.id, c.version, c.from, c.to]);
    case 'shard-drop':
      return JSON.stringify(['shard-drop', c.id, c.version, c.from, c.to]);
    case 'txn-prepare':
      return JSON.stringify(['txn-prepare', c.id, c.txid, c.coordinator, c.deadlineMs, c.mapVersion, c.compare.map(compareKey), c.success.map(txnOpKey), c.failure.map(txnOpKey), c.idempotencyKey ?? null, c.origin ?? null]);
    case 'txn-decide':
      return JSON.stringify(['txn-decide', c.id, c.txid, c.outcome]);
    case 'txn-resolve':
      return JSON.stringify(['txn-resolve', c.id, c.txid, c.outcome]);
    case 'txn-forget':
      return JSON.stringify(['txn-forget', c.id, c.txid]);
    case 'lease-grant':
      return JSON.stringify(['lease-grant', c.id, c.ttlMs, c.idempotencyKey ?? null]);
    case 'lease-keepalive':
      return JSON.stringify(['lease-keepalive', c.id, c.lease, c.keyPrefixes ?? null, c.idempotencyKey ?? null]);
    case 'lease-revoke':
      return JSON.stringify(['lease-revoke', c.id, c.lease, c.keyPrefixes ?? null, c.idempotencyKey ?? null]);
    case 'lease-expire':
      return JSON.stringify(['lease-expire', c.id, c.lease, c.refreshedAt]);
    case 'opaque':
      return JSON.stringify(['opaque', c.id, c.data, c.idempotencyKey ?? null]);
    case 'config':
      return JSON.stringify(['config', c.id, configurationKey(c.configuration)]);
    default:
      return unreachable(c);
  }
}

/** A compare as a canonical array (field order never depends on how the object was built). */
export function compareKey(c: TxnCompare): unknown[] {
  return [c.key, c.target, c.op, c.value];
}

/** A transaction operation as a canonical array. */
export function txnOpKey(op: TxnOp): unknown[] {
  if ('put' in op) return ['put', op.put.key, op.put.value, op.put.lease ?? null, op.put.ignoreLease === true];
  if ('delete' in op) return ['delete', op.delete.key];
  if ('deletePrefix' in op) return ['delete-prefix', op.deletePrefix.prefix];
  return ['get', op.get.key];
}

export function unreachable(x: never): never {
  throw new Error(`unreachable: ${JSON.stringify(x)}`);
}
