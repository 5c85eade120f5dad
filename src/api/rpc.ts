import { WorkerEntrypoint } from 'cloudflare:workers';
import { z } from 'zod';
import { EdgePaxosError } from '../client/error.ts';
import type {
  AppendOptions,
  AppendResult,
  CampaignOptions,
  DataApi,
  DeleteOptions,
  DeleteResult,
  ElectionLeader,
  GetOptions,
  KeyspaceApi,
  KeyspaceDeleteResult,
  KeyspaceEntry,
  KeyspaceList,
  KeyspaceItem,
  KeyspaceListResult,
  KeyspacePutResult,
  KeyspaceStatus,
  KeyspaceTxnResult,
  KeyspaceWatchOptions,
  KvItem,
  LeaseGrantOptions,
  LeaseGrantResult,
  LeaseInfo,
  LeaseKeepAliveResult,
  LeaseRevokeOptions,
  LeaseRevokeResult,
  ListOptions,
  ListResult,
  LockOptions,
  LockResult,
  ProclaimResult,
  PutOptions,
  PutResult,
  ReadOptions,
  ReadResult,
  ResignResult,
  ClusterStatus,
  SnapshotDocument,
  StreamStatus,
  TxnOptions,
  TxnRequest,
  TxnResult,
  UnlockOptions,
  UnlockResult,
  WatchOptions,
} from '../client/types.ts';
import { LEASE_TTL_MAX_MS, LEASE_TTL_MIN_MS } from '../kv/index.ts';
import { snapshotDocument } from './backup.ts';
import { ConfigError } from '../host/config.ts';
import { ApiError } from './errors.ts';
import { BINDING } from './grants.ts';
import * as collection from './keyspace-collection.ts';
import * as router from './keyspace-service.ts';
import { ksWatch } from './keyspace-watch.ts';
import * as locks from './lock-service.ts';
import { metricsText } from './metrics/index.ts';
import * as service from './service.ts';
import { TxnBody } from './txn.ts';
import { LIST_LIMIT_MAX, MAX_IDEMPOTENCY_KEY_CHARS, parseInput } from './validation.ts';

const Stream = z.string().min(1);
const IdempotencyKey = z.string().min(1).max(MAX_IDEMPOTENCY_KEY_CHARS);
const Consistency = z.enum(['linearizable', 'stale']);
const Slot = z.number().int().min(1).max(Number.MAX_SAFE_INTEGER);
const Limit = z.number().int().min(1).max(LIST_LIMIT_MAX);

// What crosses the binding is validated as an HTTP body is: once, here, with a schema.
const Revision = z.number().int().min(0);
const LeaseId = z.string();
const PutArgs = z.tuple([
  Stream,
  z.string(),
  z.string(),
  z.object({ ifRevision: Revision.optional(), lease: LeaseId.optional(), idempotencyKey: IdempotencyKey.optional() }).strict().optional(),
]);
const GetArgs = z.tuple([Stream, z.string(), z.object({ consistency: Consistency.optional() }).strict().optional()]);
const DeleteArgs = z.tuple([Stream, z.string(), z.object({ ifRevision: Revision.optional(), idempotencyKey: IdempotencyKey.optional() }).strict().optional()]);
const ListArgs = z.tuple([
  Stream,
  z
    .object({ prefix: z.string().max(1024).optional(), limit: Limit.optional(), cursor: z.string().optional(), startAfter: z.string().optional(), consistency: Consistency.optional() })
    .strict()
    .optional(),
]);
const AppendArgs = z.tuple([Stream, z.string(), z.object({ idempotencyKey: IdempotencyKey.optional() }).strict().optional()]);
const ReadArgs = z.tuple([Stream, z.object({ from: Slot.optional(), limit: Limit.optional() }).strict().optional()]);
const StatusArgs = z.tuple([Stream]);
const KsPutArgs = z.tuple([Stream, z.string(), z.string(), z.object({ ifRevision: Revision.optional(), idempotencyKey: IdempotencyKey.optional() }).strict().optional()]);
const TxnArgs = z.tuple([Stream, TxnBody, z.object({ idempotencyKey: IdempotencyKey.optional() }).strict().optional()]);
const LeaseGrantArgs = z.tuple([Stream, z.number().int().min(LEASE_TTL_MIN_MS).max(LEASE_TTL_MAX_MS), z.object({ idempotencyKey: IdempotencyKey.optional() }).strict().optional()]);
const LeaseArgs = z.tuple([Stream, LeaseId]);
const LeaseRevokeArgs = z.tuple([Stream, LeaseId, z.object({ idempotencyKey: IdempotencyKey.optional() }).strict().optional()]);
const WatchArgs = z.tuple([
  Stream,
  z
    .object({
      key: z.string().optional(),
      prefix: z.string().optional(),
      fromRevision: Slot.optional(),
      maxDurationMs: z.number().int().min(1000).max(service.WATCH_MAX_DURATION_MS).optional(),
      progressMs: z.number().int().min(1000).max(60_000).optional(),
    })
    .strict(),
]);
const KsWatchArgs = z.tuple([
  Stream,
  z
    .object({
      key: z.string().optional(),
      prefix: z.string().optional(),
      fromRevision: z.string().max(64 * 1024).optional(),
      maxDurationMs: z.number().int().min(1000).max(service.WATCH_MAX_DURATION_MS).optional(),
      progressMs: z.number().int().min(1000).max(60_000).optional(),
    })
    .strict(),
]);
const Name = z.string().min(1);
const WaitMs = z.number().int().min(0).max(locks.WAIT_MS_MAX);
const LockArgs = z.tuple([Stream, Name, z.object({ lease: LeaseId, waitMs: WaitMs.optional() }).strict()]);
const UnlockArgs = z.tuple([Stream, Name, z.string(), z.object({ revision: Slot.optional() }).strict().optional()]);
const CampaignArgs = z.tuple([Stream, Name, z.object({ lease: LeaseId, value: z.string(), waitMs: WaitMs.optional() }).strict()]);
const LeaderArgs = z.tuple([Stream, Name]);
const ProclaimArgs = z.tuple([Stream, Name, z.string(), Slot, z.string()]);
const ResignArgs = z.tuple([Stream, Name, z.string(), Slot]);
const SnapshotArgs = z.tuple([Stream]);

/**
 * edgepaxos for other Workers, over a service binding:
 * `services = [{ binding = "PAXOS", service = "edgepaxos", entrypoint = "EdgePaxos" }]`.
 * Every method runs the same code as its HTTP route (src/api/service.ts):
 * the same routing to the leader, retries and idempotency. Holding the
 * binding is the right to use it (no token). Errors are thrown as
 * `EdgePaxosError` (`name`, a message starting with the code, and `code`).
 */
export class EdgePaxos extends WorkerEntrypoint<Cloudflare.Env> implements DataApi, KeyspaceApi {
  async put(stream: string, key: string, value: string, opts?: PutOptions): Promise<PutResult> {
    return this.run(PutArgs, [stream, key, value, opts], 'write', ([, k, v, o]) => (t) => service.put(t, k, v, o ?? {}));
  }

  async get(stream: string, key: string, opts?: GetOptions): Promise<KvItem | null> {
    return this.run(GetArgs, [stream, key, opts], 'read', ([, k, o]) => (t) => service.get(t, k, o ?? {}));
  }

  async delete(stream: string, key: string, opts?: DeleteOptions): Promise<DeleteResult> {
    return this.run(DeleteArgs, [stream, key, opts], 'write', ([, k, o]) => (t) => service.del(t, k, o ?? {}));
  }

  async list(stream: string, opts?: ListOptions): Promise<ListResult> {
    return this.run(ListArgs, [stream, opts], 'read', ([, o]) => (t) => service.list(t, o ?? {}));
  }

  async append(stream: string, data: string, opts?: AppendOptions): Promise<AppendResult> {
    return this.run(AppendArgs, [stream, data, opts], 'write', ([, d, o]) => (t) => service.append(t, d, o ?? {}));
  }

  async read(stream: string, opts?: ReadOptions): Promise<ReadResult> {
    return this.run(ReadArgs, [stream, opts], 'read', ([, o]) => (t) => service.read(t, o ?? {}));
  }

  async status(stream: string): Promise<StreamStatus> {
    return this.run(StatusArgs, [stream], 'read', () => (t) => service.status(t) as Promise<StreamStatus>);
  }

  /** etcd's Txn; the request has the HTTP body's shape (`{compare, success, failure}`). */
  async txn(stream: string, request: TxnRequest, opts?: TxnOptions): Promise<TxnResult> {
    return this.run(TxnArgs, [stream, request, opts], 'read', ([, r, o]) => (t) => service.txn(t, r, o ?? {}));
  }

  async leaseGrant(stream: string, ttlMs: number, opts?: LeaseGrantOptions): Promise<LeaseGrantResult> {
    return this.run(LeaseGrantArgs, [stream, ttlMs, opts], 'write', ([, ttl, o]) => (t) => service.leaseGrant(t, ttl, o ?? {}));
  }

  async leaseKeepAlive(stream: string, id: string): Promise<LeaseKeepAliveResult> {
    return this.run(LeaseArgs, [stream, id], 'write', ([, l]) => (t) => service.leaseKeepAlive(t, l));
  }

  async leaseGet(stream: string, id: string): Promise<LeaseInfo> {
    return this.run(LeaseArgs, [stream, id], 'read', ([, l]) => (t) => service.leaseGet(t, l));
  }

  async leaseRevoke(stream: string, id: string, opts?: LeaseRevokeOptions): Promise<LeaseRevokeResult> {
    return this.run(LeaseRevokeArgs, [stream, id, opts], 'write', ([, l, o]) => (t) => service.leaseRevoke(t, l, o ?? {}));
  }

  /** A watch as Server-Sent Events (a byte stream: parse it with `watchEvents`, or let `watchForever` reconnect). */
  async watch(stream: string, opts: WatchOptions): Promise<ReadableStream<Uint8Array>> {
    return this.run(WatchArgs, [stream, opts], 'read', ([, o]) => (t) => service.watch(t, o));
  }

  async lock(stream: string, name: string, opts: LockOptions): Promise<LockResult> {
    return this.run(LockArgs, [stream, name, opts], 'write', ([, n, o]) => (t) => locks.lock(t, n, o));
  }

  async unlock(stream: string, name: string, key: string, opts?: UnlockOptions): Promise<UnlockResult> {
    return this.run(UnlockArgs, [stream, name, key, opts], 'write', ([, n, k, o]) => (t) => locks.unlock(t, n, k, o ?? {}));
  }

  async campaign(stream: string, name: string, opts: CampaignOptions): Promise<LockResult> {
    return this.run(CampaignArgs, [stream, name, opts], 'write', ([, n, o]) => (t) => locks.campaign(t, n, o));
  }

  async leader(stream: string, name: string): Promise<ElectionLeader | null> {
    return this.run(LeaderArgs, [stream, name], 'read', ([, n]) => (t) => locks.leader(t, n));
  }

  async proclaim(stream: string, name: string, key: string, revision: number, value: string): Promise<ProclaimResult> {
    return this.run(ProclaimArgs, [stream, name, key, revision, value], 'write', ([, n, k, r, v]) => (t) => locks.proclaim(t, n, k, r, v));
  }

  async resign(stream: string, name: string, key: string, revision: number): Promise<ResignResult> {
    return this.run(ResignArgs, [stream, name, key, revision], 'write', ([, n, k, r]) => (t) => locks.resign(t, n, k, r));
  }

  // ---------------------------------------------------------------- keyspaces (the router: keyspace-service.ts)

  async ksPut(keyspace: string, key: string, value: string, opts?: Omit<PutOptions, 'lease'>): Promise<KeyspacePutResult> {
    return this.runKeyspace(KsPutArgs, [keyspace, key, value, opts], 'write', ([, k, v, o]) => (t) => router.ksPut(t, k, v, o ?? {}));
  }

  async ksGet(keyspace: string, key: string, opts?: GetOptions): Promise<KeyspaceItem | null> {
    return this.runKeyspace(GetArgs, [keyspace, key, opts], 'read', ([, k, o]) => (t) => router.ksGet(t, k, o ?? {}));
  }

  async ksDelete(keyspace: string, key: string, opts?: DeleteOptions): Promise<KeyspaceDeleteResult> {
    return this.runKeyspace(DeleteArgs, [keyspace, key, opts], 'write', ([, k, o]) => (t) => router.ksDelete(t, k, o ?? {}));
  }

  async ksList(keyspace: string, opts?: ListOptions): Promise<KeyspaceListResult> {
    return this.runKeyspace(ListArgs, [keyspace, opts], 'read', ([, o]) => (t) => router.ksList(t, o ?? {}));
  }

  async ksTxn(keyspace: string, request: TxnRequest, opts?: TxnOptions): Promise<KeyspaceTxnResult> {
    return this.runKeyspace(TxnArgs, [keyspace, request, opts], 'read', ([, r, o]) => (t) => router.ksTxn(t, r, o ?? {}));
  }

  async ksStatus(keyspace: string): Promise<KeyspaceStatus> {
    return this.runKeyspace(StatusArgs, [keyspace], 'read', () => (t) => router.ksStatus(t));
  }

  /** A watch over a key or prefix of the keyspace, every shard's merged, as Server-Sent Events (parse with `keyspaceWatchEvents`, or let `watchKeyspaceForever` reconnect). */
  async ksWatch(keyspace: string, opts: KeyspaceWatchOptions): Promise<ReadableStream<Uint8Array>> {
    return this.runKeyspace(KsWatchArgs, [keyspace, opts], 'read', ([, o]) => (t) => ksWatch(t, o));
  }

  /** Every keyspace (a binding may read them all); creating and deleting one is the operator entrypoint's (`EdgePaxosAdmin`). */
  async keyspaces(): Promise<KeyspaceList> {
    try {
      return await collection.listKeyspaces(this.env, BINDING);
    } catch (e) {
      throw toEdgePaxosError(e);
    }
  }

  async keyspace(name: string): Promise<KeyspaceEntry> {
    try {
      const [n] = parseInput(StatusArgs, [name], 'argument');
      return await collection.describeKeyspace(this.env, BINDING, n);
    } catch (e) {
      throw toEdgePaxosError(e);
    }
  }

  /** As `run`, for a keyspace: the resolves of a decided transaction outlive the call (waitUntil). */
  private async runKeyspace<A extends z.ZodType, R>(schema: A, args: unknown[], access: 'read' | 'write', op: (args: z.output<A>) => (t: router.KeyspaceTarget) => Promise<R>): Promise<R> {
    try {
      while (args.length > 1 && args[args.length - 1] === undefined) args.pop();
      const parsed = parseInput(schema, args, 'argument');
      const name = (parsed as unknown[])[0] as string;
      return await op(parsed)(await router.openKeyspace(this.env, BINDING, name, access, (work) => this.ctx.waitUntil(work)));
    } catch (e) {
      throw toEdgePaxosError(e);
    }
  }

  /** A consistent snapshot of the stream's state at a decided slot, with its checksum (a backup; as GET /v1/streams/{stream}/snapshot). */
  async snapshot(stream: string): Promise<SnapshotDocument> {
    return this.run(SnapshotArgs, [stream], 'read', () => (t) => snapshotDocument(t));
  }

  /** The status of every stream (a binding may read them all). */
  async statusAll(): Promise<ClusterStatus> {
    try {
      return await service.statusAll(this.env, BINDING);
    } catch (e) {
      throw toEdgePaxosError(e);
    }
  }

  /** Prometheus metrics (text format) of every stream and of the Worker's requests, as GET /metrics. */
  async metrics(): Promise<string> {
    try {
      return await metricsText(this.env, BINDING);
    } catch (e) {
      throw toEdgePaxosError(e);
    }
  }

  /** Validate the arguments, open the stream for the binding, run the operation; errors leave as EdgePaxosError. */
  private async run<A extends z.ZodType, R>(
    schema: A,
    args: unknown[],
    access: 'read' | 'write',
    op: (args: z.output<A>) => (t: service.Target) => Promise<R>,
  ): Promise<R> {
    try {
      // Trailing undefined options are dropped, as a caller that passed none would.
      while (args.length > 1 && args[args.length - 1] === undefined) args.pop();
      const parsed = parseInput(schema, args, 'argument');
      const stream = (parsed as unknown[])[0] as string;
      const target = await service.openStream(this.env, BINDING, stream, access);
      target.client.requestId = `rpc-${crypto.randomUUID()}`; // ties the replicas' log lines of one call together
      return await op(parsed)(target);
    } catch (e) {
      throw toEdgePaxosError(e);
    }
  }
}

/** The error a calling Worker receives: its code, message and details, in a shape that survives RPC. */
export function toEdgePaxosError(e: unknown): EdgePaxosError {
  if (e instanceof ApiError) return new EdgePaxosError(e.code, e.message, e.status, { ...e.details });
  if (e instanceof ConfigError) return new EdgePaxosError('invalid_configuration', e.message, 500);
  console.error('edgepaxos: unexpected error in an RPC call', e);
  return new EdgePaxosError('internal', 'internal error', 500);
}
