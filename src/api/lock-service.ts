import type { KvItem, LockView } from '../kv/index.ts';
import type { ElectionLeader, LockResult, ProclaimResult, ResignResult, UnlockResult } from '../client/types.ts';
import { watchEvents } from '../client/watch.ts';
import { timingWindows } from '../host/timing-windows.ts';
import { ApiError } from './errors.ts';
import { authorize } from './grants.ts';
import { type Target, checkLeaseId, refuseRejected, refuseSystemWrite, unexpected, watch } from './service.ts';
import { byteLength, checkKey, checkValueSize, maxValueBytes } from './validation.ts';

/**
 * Locks and leader elections (etcd's concurrency package, Patroni's leader
 * key), built on transactions, leases and watches: one code path behind the
 * HTTP routes (locks.ts) and the RPC methods.
 *
 * A lock or election `name` is a key prefix `<name>/`. A waiter's key is
 * `<name>/<lease id>`, created (compare create_revision == 0) with the lease
 * attached, so the waiter leaves the queue when its lease ends. The holder
 * (the leader) is the key with the lowest create revision under the prefix;
 * that create revision is the fencing token, strictly increasing per name
 * since each waiter's key is created at a later slot. Waiting happens here,
 * in the Worker, not in the replicas: a waiter watches the key created just
 * before its own (so a release wakes one waiter, not all) and reads the queue
 * again when it is deleted, or every `lockRecheckMs` in case the replica it
 * watches fell behind; after `wait_ms` it deletes its own key (it leaves the
 * queue) and gives up.
 */

export const WAIT_MS_MAX = 300_000;
export const WAIT_MS_DEFAULT = 60_000;
const NAME_BYTES_MAX = 512;

/** The key prefix of a lock or election name. */
function prefixOf(name: string): string {
  if (name === '') throw new ApiError(400, 'invalid_request', 'the name must not be empty');
  if (byteLength(name) > NAME_BYTES_MAX) throw new ApiError(400, 'invalid_request', `a name is at most ${NAME_BYTES_MAX} bytes`);
  return `${name}/`;
}

/** A waiter's key given back by a caller: it must be one of this name's keys. */
function checkOwnKey(prefix: string, key: string): void {
  checkKey(key);
  if (!key.startsWith(prefix) || key.length === prefix.length) throw new ApiError(400, 'invalid_request', `key '${key}' is not a key of '${prefix.slice(0, -1)}' (it starts with '${prefix}')`);
}

type Kind = 'lock' | 'election';

export async function lock(t: Target, name: string, opts: { readonly lease: string; readonly waitMs?: number }): Promise<LockResult> {
  return acquire(t, 'lock', name, opts.lease, '', opts.waitMs ?? WAIT_MS_DEFAULT);
}

export async function campaign(t: Target, name: string, opts: { readonly lease: string; readonly value: string; readonly waitMs?: number }): Promise<LockResult> {
  return acquire(t, 'election', name, opts.lease, opts.value, opts.waitMs ?? WAIT_MS_DEFAULT);
}

/**
 * Join the queue under `name` with `lease` (or find the key this lease
 * already has there) and wait, at most `waitMs`, until it is the oldest key.
 */
async function acquire(t: Target, kind: Kind, name: string, lease: string, value: string, waitMs: number): Promise<LockResult> {
  const stream = t.client.stream.name;
  const prefix = prefixOf(name);
  checkLeaseId(lease);
  const key = `${prefix}${lease}`;
  checkKey(key);
  authorize(t.principal, { stream, access: 'write', listPrefix: prefix });
  refuseSystemWrite(t.client);
  checkValueSize(value, maxValueBytes(t.env), 'value');
  if (!Number.isInteger(waitMs) || waitMs < 0 || waitMs > WAIT_MS_MAX) throw new ApiError(400, 'invalid_request', `wait_ms must be 0 to ${WAIT_MS_MAX}`);
  const deadline = Date.now() + waitMs;
  // Join: create the key unless this lease has one here already (then it is the same waiter, as in etcd).
  const joined = await t.client.write({
    kind: 'txn',
    compare: [{ key, target: 'create_revision', op: '==', value: 0 }],
    success: [{ put: { key, value, lease } }],
    failure: [{ get: { key } }],
    idempotencyKey: crypto.randomUUID(),
  });
  refuseRejected(joined);
  if (joined.kind !== 'txn') throw unexpected(joined);
  let mine: number;
  if (joined.succeeded) {
    mine = joined.revision;
  } else {
    const seen = joined.results[0];
    if (seen?.kind !== 'get' || !seen.item) throw unexpected(joined);
    mine = seen.item.createRevision;
    if (kind === 'election' && seen.item.value !== value) await proclaimAt(t, key, mine, value);
  }
  const recheckMs = timingWindows(t.client.stream).lockRecheckMs;
  for (;;) {
    const view = await queue(t, prefix, key);
    if (!view.mine || view.mine.createRevision !== mine) {
      throw new ApiError(404, 'lease_not_found', `the waiter's key '${key}' is gone (lease ${lease} ended, or the key was deleted) before it got to the front`, { lease });
    }
    if (view.owner?.key === key) return { key, revision: mine };
    if (Date.now() >= deadline) {
      // Leave the queue (only the key this call created: a key found there belongs to another call).
      if (joined.succeeded) await removeKey(t, key, mine);
      throw notAcquired(kind, name, waitMs, view.owner);
    }
    await deletedOrTimeout(t, view.predecessor!.key, view.revision + 1, Math.min(deadline, Date.now() + recheckMs));
  }
}

function notAcquired(kind: Kind, name: string, waitMs: number, owner: KvItem | null): ApiError {
  const holder = owner ? { holder: owner.key, holder_revision: owner.createRevision } : {};
  return kind === 'lock'
    ? new ApiError(409, 'lock_held', `lock '${name}' is held by another after waiting ${waitMs} ms; this waiter left the queue`, holder)
    : new ApiError(409, 'not_elected', `election '${name}' has another leader after waiting ${waitMs} ms; this candidate left the queue`, holder);
}

/** The queue under `prefix` through the leader (linearizable). */
async function queue(t: Target, prefix: string, key: string | null): Promise<LockView> {
  const view = await t.client.readLinearizable((stub, id, timeoutMs) => stub.lockView(id, prefix, key, timeoutMs));
  if (!view) throw new ApiError(503, 'unavailable', 'the replica asked keeps no data');
  return view;
}

/**
 * Wait until `key` is deleted (a watch on it from `fromRevision`), or until
 * `until`. A watch that cannot be opened, or ends, just ends the wait: the
 * caller reads the queue again either way.
 */
async function deletedOrTimeout(t: Target, key: string, fromRevision: number, until: number): Promise<void> {
  const remaining = until - Date.now();
  if (remaining <= 0) return;
  const stop = new AbortController();
  const timer = setTimeout(() => stop.abort(), remaining);
  try {
    let body: ReadableStream<Uint8Array>;
    try {
      body = await watch(t, { key, fromRevision, maxDurationMs: Math.max(1000, Math.min(remaining, 300_000)), progressMs: 60_000 });
    } catch {
      // No replica took the watch (or the revision was compacted): wait out the recheck instead.
      await new Promise<void>((resolve) => stop.signal.addEventListener('abort', () => resolve(), { once: true }));
      return;
    }
    try {
      for await (const e of watchEvents(body, stop.signal)) {
        if ((e.type === 'delete' && e.key === key) || e.type === 'compacted') return;
      }
    } catch {
      // The stream broke (its replica restarted, the connection was cut): the caller reads the queue again.
    }
  } finally {
    clearTimeout(timer);
    stop.abort();
  }
}

/** Delete `key` if it still has create revision `revision` (so a newer waiter's key of the same name is never touched); whether it did. */
async function removeKey(t: Target, key: string, revision: number): Promise<{ removed: boolean; revision: number }> {
  const result = await t.client.write({
    kind: 'txn',
    compare: [{ key, target: 'create_revision', op: '==', value: revision }],
    success: [{ delete: { key } }],
    failure: [],
    idempotencyKey: crypto.randomUUID(),
  });
  refuseRejected(result);
  if (result.kind !== 'txn') throw unexpected(result);
  return { removed: result.succeeded, revision: result.revision };
}

/** Release a lock: delete its key (only if it still has create revision `revision`, when given). */
export async function unlock(t: Target, name: string, key: string, opts: { readonly revision?: number } = {}): Promise<UnlockResult> {
  const prefix = prefixOf(name);
  checkOwnKey(prefix, key);
  authorize(t.principal, { stream: t.client.stream.name, access: 'write', key });
  refuseSystemWrite(t.client);
  if (opts.revision !== undefined) {
    const r = await removeKey(t, key, opts.revision);
    return { released: r.removed, revision: r.revision };
  }
  const result = await t.client.write({ kind: 'delete', key, idempotencyKey: crypto.randomUUID() });
  refuseRejected(result);
  if (result.kind !== 'delete') throw unexpected(result);
  return { released: result.deleted, revision: result.revision };
}

/** The current leader of an election: the oldest key under its prefix (null when nobody campaigns). */
export async function leader(t: Target, name: string): Promise<ElectionLeader | null> {
  const prefix = prefixOf(name);
  authorize(t.principal, { stream: t.client.stream.name, access: 'read', listPrefix: prefix });
  const view = await queue(t, prefix, null);
  if (!view.owner) return null;
  return { key: view.owner.key, value: view.owner.value, revision: view.owner.createRevision, mod_revision: view.owner.revision };
}

/** The leader announces a new value, if it still leads with `revision` (its key has that create revision). */
export async function proclaim(t: Target, name: string, key: string, revision: number, value: string): Promise<ProclaimResult> {
  const prefix = prefixOf(name);
  checkOwnKey(prefix, key);
  authorize(t.principal, { stream: t.client.stream.name, access: 'write', key });
  refuseSystemWrite(t.client);
  checkValueSize(value, maxValueBytes(t.env), 'value');
  const r = await proclaimAt(t, key, revision, value);
  if (!r.ok) throw new ApiError(409, 'not_elected', `key '${key}' with revision ${revision} is gone (its lease ended, or it resigned): nothing was proclaimed`);
  return { revision: r.revision };
}

async function proclaimAt(t: Target, key: string, revision: number, value: string): Promise<{ ok: boolean; revision: number }> {
  const result = await t.client.write({
    kind: 'txn',
    compare: [{ key, target: 'create_revision', op: '==', value: revision }],
    success: [{ put: { key, value, ignoreLease: true } }],
    failure: [],
    idempotencyKey: crypto.randomUUID(),
  });
  refuseRejected(result);
  if (result.kind !== 'txn') throw unexpected(result);
  return { ok: result.succeeded, revision: result.revision };
}

/** Give up leadership (or candidacy): delete the key if it still has create revision `revision`. */
export async function resign(t: Target, name: string, key: string, revision: number): Promise<ResignResult> {
  const prefix = prefixOf(name);
  checkOwnKey(prefix, key);
  authorize(t.principal, { stream: t.client.stream.name, access: 'write', key });
  refuseSystemWrite(t.client);
  const r = await removeKey(t, key, revision);
  return { resigned: r.removed, revision: r.revision };
}
