import { WorkerEntrypoint } from 'cloudflare:workers';
import { z } from 'zod';
import type {
  AddMemberOptions,
  AdminApi,
  ChaosAction,
  ChaosResult,
  KeyspaceGrowResult,
  HealthResult,
  LeaderCheckResult,
  LeadershipResult,
  MemberChange,
  MembersResult,
  ReplicaCheckOptions,
  ReplicaCheckResult,
  RestoreResult,
  RunMode,
  RunModeResult,
  SnapshotDocument,
  StreamDefinition,
  StreamDeletion,
  StreamEntry,
  StreamList,
  TimeoutOptions,
  TruncationResult,
  WaitOptions,
  WorkModeRequest,
  WorkModeResult,
} from '../client/types.ts';
import { REGIONS } from '../host/config.ts';
import { DocumentSchema, restoreStream, snapshotDocument } from './backup.ts';
import { ADMIN_BINDING, type Access, authorize } from './grants.ts';
import { growKeyspace } from './keyspace-grow.ts';
import * as members from './membership-service.ts';
import { CHANGE_WAIT_MS } from './membership-service.ts';
import * as operations from './operations-service.ts';
import { HANDOVER_TIMEOUT_MS } from './operations-service.ts';
import { ChaosBody } from './operations.ts';
import { toEdgePaxosError } from './rpc.ts';
import * as service from './service.ts';
import * as streams from './streams-service.ts';
import { parseInput } from './validation.ts';

const Stream = z.string().min(1);
const ReplicaId = z.number().int().min(1).max(1_000_000);
const TimeoutMs = z.number().int().min(HANDOVER_TIMEOUT_MS.min).max(HANDOVER_TIMEOUT_MS.max);
const WaitMs = z.number().int().min(CHANGE_WAIT_MS.min).max(CHANGE_WAIT_MS.max);
const Role = z.enum(['follower', 'logger', 'passive']);
const Priority = z.number().int().min(0).max(1000);
const Weight = z.number().int().min(1).max(100);
const Group = z.number().int().min(0).max(1000);

// What crosses the binding is validated as an HTTP body is (the same ranges, from the services): once, here, with a schema.
const TimeoutArgs = z.object({ timeoutMs: TimeoutMs.optional() }).strict().optional();
const WaitArgs = z.object({ waitMs: WaitMs.optional() }).strict().optional();
const SwitchoverArgs = z.tuple([Stream, z.number().int(), TimeoutArgs]);
const StepDownArgs = z.tuple([Stream, TimeoutArgs]);
const StreamArgs = z.tuple([Stream]);
const ReplicaArgs = z.tuple([Stream, ReplicaId]);
const RunModeArgs = z.tuple([Stream, z.enum(['automatic', 'manual'])]);
const WorkModeArgs = z.tuple([
  Stream,
  z.discriminatedUnion('mode', [
    z.object({ mode: z.literal('minority'), replicas: z.array(z.number().int().min(1)).min(1).max(9), voteNum: z.number().int().min(1).max(9) }).strict(),
    z.object({ mode: z.literal('normal') }).strict(),
  ]),
]);
const ReplicaCheckArgs = z.tuple([Stream, ReplicaId, z.object({ lag: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER).optional() }).strict().optional()]);
const AddMemberArgs = z.tuple([
  Stream,
  z
    .object({ id: ReplicaId, region: z.enum(REGIONS), role: z.enum(['follower', 'passive']).optional(), priority: Priority.optional(), weight: Weight.optional(), group: Group.optional(), waitMs: WaitMs.optional() })
    .strict(),
]);
const UpdateMemberArgs = z.tuple([
  Stream,
  ReplicaId,
  z
    .object({ role: Role.optional(), priority: Priority.optional(), weight: Weight.optional(), group: Group.optional(), region: z.enum(REGIONS).optional(), waitMs: WaitMs.optional() })
    .strict()
    .refine((b) => b.role !== undefined || b.priority !== undefined || b.weight !== undefined || b.group !== undefined || b.region !== undefined, {
      message: 'name at least one of role, priority, weight, group, region',
    }),
]);
const WaitReplicaArgs = z.tuple([Stream, ReplicaId, WaitArgs]);
const NoArgs = z.tuple([]);
const DefinitionArgs = z.tuple([z.unknown()]);
const RestoreArgs = z.tuple([Stream, DocumentSchema]);
const ChaosArgs = z.tuple([Stream, ChaosBody]);
const GrowArgs = z.tuple([Stream, z.number().int().min(2).max(256)]);

/**
 * edgepaxos's operator controls for another Worker, over a service binding:
 * `services = [{ binding = "PAXOS_ADMIN", service = "edgepaxos", entrypoint = "EdgePaxosAdmin" }]`.
 * One method per control of the HTTP API (switchover, step-down, failover,
 * run and work mode, truncation, health checks, members, rebuild, streams,
 * backup and restore, fault injection), each running the same service
 * function as its route (operations-service.ts, membership-service.ts,
 * streams-service.ts, backup.ts). A binding is a capability: bind this
 * entrypoint only to a Worker that should steer the cluster; the data
 * entrypoint (`EdgePaxos`) cannot reach any of these. Errors are thrown as
 * `EdgePaxosError` (`name`, a message starting with the code, and `code`).
 */
export class EdgePaxosAdmin extends WorkerEntrypoint<Cloudflare.Env> implements AdminApi {
  async switchover(stream: string, target: number, opts?: TimeoutOptions): Promise<LeadershipResult> {
    return this.onStream(SwitchoverArgs, [stream, target, opts], 'admin', ([, id, o]) => (t) => operations.switchover(t, id, o?.timeoutMs));
  }

  async stepDown(stream: string, opts?: TimeoutOptions): Promise<LeadershipResult> {
    return this.onStream(StepDownArgs, [stream, opts], 'admin', ([, o]) => (t) => operations.stepDown(t, o?.timeoutMs));
  }

  async failover(stream: string, candidate: number): Promise<LeadershipResult> {
    return this.onStream(ReplicaArgs, [stream, candidate], 'admin', ([, id]) => (t) => operations.campaign(t, id));
  }

  async setRunMode(stream: string, mode: RunMode): Promise<RunModeResult> {
    return this.onStream(RunModeArgs, [stream, mode], 'admin', ([, m]) => (t) => operations.setRunMode(t, m));
  }

  async setWorkMode(stream: string, request: WorkModeRequest): Promise<WorkModeResult> {
    return this.onStream(WorkModeArgs, [stream, request], 'admin', ([, r]) => (t) => operations.setWorkMode(t, r));
  }

  async truncate(stream: string): Promise<TruncationResult> {
    return this.onStream(StreamArgs, [stream], 'admin', () => (t) => operations.truncate(t));
  }

  async health(stream: string, id: number): Promise<HealthResult> {
    return this.onStream(ReplicaArgs, [stream, id], 'read', ([, r]) => (t) => operations.health(t, r));
  }

  async leaderCheck(stream: string, id: number): Promise<LeaderCheckResult> {
    return this.onStream(ReplicaArgs, [stream, id], 'read', ([, r]) => (t) => operations.leaderCheck(t, r));
  }

  async replicaCheck(stream: string, id: number, opts?: ReplicaCheckOptions): Promise<ReplicaCheckResult> {
    return this.onStream(ReplicaCheckArgs, [stream, id, opts], 'read', ([, r, o]) => (t) => operations.replicaCheck(t, r, o?.lag));
  }

  async members(stream: string): Promise<MembersResult> {
    return this.onStream(StreamArgs, [stream], 'read', () => (t) => members.listMembers(t));
  }

  async addMember(stream: string, member: AddMemberOptions): Promise<MembersResult> {
    return this.onStream(AddMemberArgs, [stream, member], 'admin', ([, m]) => async (t) => (await members.addMember(t, m)).result);
  }

  async updateMember(stream: string, id: number, change: MemberChange): Promise<MembersResult> {
    return this.onStream(UpdateMemberArgs, [stream, id, change], 'admin', ([, r, c]) => (t) => members.updateMember(t, r, c));
  }

  async removeMember(stream: string, id: number, opts?: WaitOptions): Promise<MembersResult> {
    return this.onStream(WaitReplicaArgs, [stream, id, opts], 'admin', ([, r, o]) => (t) => members.removeMember(t, r, o?.waitMs));
  }

  async rebuild(stream: string, id: number, opts?: WaitOptions): Promise<MembersResult> {
    return this.onStream(WaitReplicaArgs, [stream, id, opts], 'admin', ([, r, o]) => async (t) => (await members.rebuild(t, r, o?.waitMs)).result);
  }

  async streams(): Promise<StreamList> {
    return this.call(NoArgs, [], () => streams.listStreams(this.env, ADMIN_BINDING));
  }

  async stream(name: string): Promise<StreamEntry> {
    return this.call(StreamArgs, [name], ([n]) => streams.describeStream(this.env, ADMIN_BINDING, n));
  }

  async createStream(definition: StreamDefinition): Promise<StreamEntry> {
    return this.call(DefinitionArgs, [definition], ([d]) => streams.createStream(this.env, ADMIN_BINDING, streams.parseDefinition(d)));
  }

  async deleteStream(name: string): Promise<StreamDeletion> {
    return this.call(StreamArgs, [name], ([n]) => streams.deleteStream(this.env, ADMIN_BINDING, n));
  }

  async growKeyspace(keyspace: string, shards: number): Promise<KeyspaceGrowResult> {
    return this.call(GrowArgs, [keyspace, shards], ([k, n]) => growKeyspace(this.env, ADMIN_BINDING, k, n));
  }

  async snapshot(stream: string): Promise<SnapshotDocument> {
    return this.onStream(StreamArgs, [stream], 'admin', () => (t) => snapshotDocument(t));
  }

  async restore(name: string, snapshot: SnapshotDocument): Promise<RestoreResult> {
    return this.call(RestoreArgs, [name, snapshot], ([n, doc]) =>
      restoreStream(this.env, n, doc as unknown as SnapshotDocument, (s) => authorize(ADMIN_BINDING, { stream: s, access: 'admin' })),
    );
  }

  async chaos(stream: string, action: ChaosAction): Promise<ChaosResult> {
    return this.onStream(ChaosArgs, [stream, action], 'admin', ([, a]) => (t) => operations.chaos(t, a));
  }

  /** Validate the arguments, open the stream for the admin binding, run the control; errors leave as EdgePaxosError. */
  private async onStream<A extends z.ZodType, R>(schema: A, args: unknown[], access: Access, op: (args: z.output<A>) => (t: service.Target) => Promise<R>): Promise<R> {
    return this.call(schema, args, async (parsed) => {
      const target = await service.openStream(this.env, ADMIN_BINDING, (parsed as unknown[])[0] as string, access);
      target.client.requestId = `rpc-${crypto.randomUUID()}`; // ties the replicas' log lines of one call together
      return op(parsed)(target);
    });
  }

  /** Validate the arguments and run `op`; errors leave as EdgePaxosError. */
  private async call<A extends z.ZodType, R>(schema: A, args: unknown[], op: (args: z.output<A>) => Promise<R>): Promise<R> {
    try {
      // Trailing undefined options are dropped, as a caller that passed none would.
      while (args.length > 1 && args[args.length - 1] === undefined) args.pop();
      return await op(parseInput(schema, args, 'argument'));
    } catch (e) {
      throw toEdgePaxosError(e);
    }
  }
}
