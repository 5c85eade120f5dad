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
  | LeaseExpireCommand;

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
}

/** Remove `key`, whether or not it exists; with `ifRevision`, only if the key's revision equals it. */
export interface DeleteCommand {
  readonly kind: 'delete';
  readonly id: string;
  readonly key: string;
  readonly ifRevision?: number;
  readonly idempotencyKey?: string;
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
      return JSON.stringify(['put', c.id, c.key, c.value, c.ifRevision ?? null, c.idempotencyKey ?? null, c.lease ?? null]);
    case 'delete':
      return JSON.stringify(['delete', c.id, c.key, c.idempotencyKey ?? null, c.ifRevision ?? null]);
    case 'txn':
      return JSON.stringify(['txn', c.id, c.compare.map(compareKey), c.success.map(txnOpKey), c.failure.map(txnOpKey), c.idempotencyKey ?? null]);
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
