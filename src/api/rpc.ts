import { WorkerEntrypoint } from 'cloudflare:workers';
import { z } from 'zod';
import { EdgePaxosError } from '../client/error.ts';
import type {
  AppendOptions,
  AppendResult,
  DataApi,
  DeleteOptions,
  DeleteResult,
  GetOptions,
  KvItem,
  ListOptions,
  ListResult,
  PutOptions,
  PutResult,
  ReadOptions,
  ReadResult,
  ClusterStatus,
  SnapshotDocument,
  StreamStatus,
} from '../client/types.ts';
import { snapshotDocument } from './backup.ts';
import { ConfigError } from '../host/config.ts';
import { ApiError } from './errors.ts';
import { BINDING } from './grants.ts';
import { metricsText } from './metrics/index.ts';
import * as service from './service.ts';
import { LIST_LIMIT_MAX, MAX_IDEMPOTENCY_KEY_CHARS, parseInput } from './validation.ts';

const Stream = z.string().min(1);
const IdempotencyKey = z.string().min(1).max(MAX_IDEMPOTENCY_KEY_CHARS);
const Consistency = z.enum(['linearizable', 'stale']);
const Slot = z.number().int().min(1).max(Number.MAX_SAFE_INTEGER);
const Limit = z.number().int().min(1).max(LIST_LIMIT_MAX);

// What crosses the binding is validated as an HTTP body is: once, here, with a schema.
const PutArgs = z.tuple([Stream, z.string(), z.string(), z.object({ ifRevision: z.number().int().min(0).optional(), idempotencyKey: IdempotencyKey.optional() }).strict().optional()]);
const GetArgs = z.tuple([Stream, z.string(), z.object({ consistency: Consistency.optional() }).strict().optional()]);
const DeleteArgs = z.tuple([Stream, z.string(), z.object({ idempotencyKey: IdempotencyKey.optional() }).strict().optional()]);
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
const SnapshotArgs = z.tuple([Stream]);

/**
 * edgepaxos for other Workers, over a service binding:
 * `services = [{ binding = "PAXOS", service = "edgepaxos", entrypoint = "EdgePaxos" }]`.
 * Every method runs the same code as its HTTP route (src/api/service.ts):
 * the same routing to the leader, retries and idempotency. Holding the
 * binding is the right to use it (no token). Errors are thrown as
 * `EdgePaxosError` (`name`, a message starting with the code, and `code`).
 */
export class EdgePaxos extends WorkerEntrypoint<Cloudflare.Env> implements DataApi {
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
