/**
 * A typed client of edgepaxos's HTTP API for any JavaScript runtime with
 * `fetch` (browsers, Node, Deno, Bun, Workers). It throws EdgePaxosError for
 * every error answer, as the RPC entrypoint does, so code written against one
 * reads the same against the other (both implement `DataApi`).
 *
 * It imports nothing from the Worker's runtime code: types only.
 *
 * ```ts
 * import { EdgePaxosClient } from 'edgepaxos/client';
 * const paxos = new EdgePaxosClient({ url: 'http://localhost:8787', token: process.env.EDGEPAXOS_TOKEN });
 * const { revision } = await paxos.put('default', 'greeting', 'hello');
 * ```
 */
import { EdgePaxosError } from './error.ts';
import type {
  AddMemberOptions,
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
  KeyspaceGrowResult,
  KeyspaceItem,
  KeyspaceListResult,
  KeyspacePutResult,
  KeyspaceStatus,
  KeyspaceTxnResult,
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
  StreamStatus,
  TxnOptions,
  TxnRequest,
  TxnResult,
  UnlockOptions,
  UnlockResult,
  WatchOptions,
  ClusterStatus,
  LeadershipResult,
  MemberChange,
  MembersResult,
  RestoreResult,
  RunMode,
  RunModeResult,
  SnapshotDocument,
  StreamDefinition,
  StreamDeletion,
  StreamEntry,
  TimeoutOptions,
  WaitOptions,
  WorkModeRequest,
  WorkModeResult,
  AdminApi,
  ChaosAction,
  ChaosResult,
  HealthResult,
  LeaderCheckResult,
  ReplicaCheckOptions,
  ReplicaCheckResult,
  StreamList,
  TruncationResult,
} from './types.ts';

export { EdgePaxosError, isEdgePaxosError } from './error.ts';
export { type WatchForeverOptions, watchEvents, watchForever } from './watch.ts';
export type * from './types.ts';

export interface ClientOptions {
  /** Where the Worker answers, e.g. `http://localhost:8787` or `https://edgepaxos.example.workers.dev`. */
  readonly url: string;
  /** A bearer token of EDGEPAXOS_TOKENS (or the admin token); none when the data plane is public. */
  readonly token?: string;
  /** The fetch to use (default: the global one); a Worker may pass a service binding's `fetch`. */
  readonly fetch?: (input: string, init: RequestInit) => Promise<Response>;
}

type Query = Record<string, string | number | undefined>;

export class EdgePaxosClient implements DataApi, AdminApi, KeyspaceApi {
  private readonly base: string;
  private readonly token: string | undefined;
  private readonly doFetch: (input: string, init: RequestInit) => Promise<Response>;

  constructor(options: ClientOptions) {
    this.base = options.url.replace(/\/+$/, '');
    this.token = options.token;
    this.doFetch = options.fetch ?? ((input, init) => fetch(input, init));
  }

  // Keys travel as the `key` query parameter (`/key?key=`), so any key works, `.` and `..` segments included.

  async put(stream: string, key: string, value: string, opts: PutOptions = {}): Promise<PutResult> {
    const body = { value, ...(opts.ifRevision !== undefined ? { if_revision: opts.ifRevision } : {}), ...(opts.lease !== undefined ? { lease: opts.lease } : {}) };
    return this.request('PUT', `${streamPath(stream)}/key`, { key }, body, opts.idempotencyKey);
  }

  async get(stream: string, key: string, opts: GetOptions = {}): Promise<KvItem | null> {
    try {
      return await this.request<KvItem>('GET', `${streamPath(stream)}/key`, { key, consistency: opts.consistency });
    } catch (e) {
      if (e instanceof EdgePaxosError && e.code === 'not_found') return null;
      throw e;
    }
  }

  async delete(stream: string, key: string, opts: DeleteOptions = {}): Promise<DeleteResult> {
    return this.request('DELETE', `${streamPath(stream)}/key`, { key, if_revision: opts.ifRevision }, undefined, opts.idempotencyKey);
  }

  async list(stream: string, opts: ListOptions = {}): Promise<ListResult> {
    return this.request('GET', `${streamPath(stream)}/kv`, {
      prefix: opts.prefix,
      limit: opts.limit,
      cursor: opts.cursor,
      start_after: opts.startAfter,
      consistency: opts.consistency,
    });
  }

  async append(stream: string, data: string, opts: AppendOptions = {}): Promise<AppendResult> {
    return this.request('POST', `${streamPath(stream)}/log`, {}, { data }, opts.idempotencyKey);
  }

  async read(stream: string, opts: ReadOptions = {}): Promise<ReadResult> {
    return this.request('GET', `${streamPath(stream)}/log`, { from: opts.from, limit: opts.limit });
  }

  async status(stream: string): Promise<StreamStatus> {
    return this.request('GET', `${streamPath(stream)}/status`, {});
  }

  async txn(stream: string, request: TxnRequest, opts: TxnOptions = {}): Promise<TxnResult> {
    return this.request('POST', `${streamPath(stream)}/txn`, {}, request, opts.idempotencyKey);
  }

  async leaseGrant(stream: string, ttlMs: number, opts: LeaseGrantOptions = {}): Promise<LeaseGrantResult> {
    return this.request('POST', `${streamPath(stream)}/leases`, {}, { ttl_ms: ttlMs }, opts.idempotencyKey);
  }

  async leaseKeepAlive(stream: string, id: string): Promise<LeaseKeepAliveResult> {
    return this.request('POST', `${streamPath(stream)}/leases/${encodeURIComponent(id)}/keepalive`, {});
  }

  async leaseGet(stream: string, id: string): Promise<LeaseInfo> {
    return this.request('GET', `${streamPath(stream)}/leases/${encodeURIComponent(id)}`, {});
  }

  async leaseRevoke(stream: string, id: string, opts: LeaseRevokeOptions = {}): Promise<LeaseRevokeResult> {
    return this.request('DELETE', `${streamPath(stream)}/leases/${encodeURIComponent(id)}`, {}, undefined, opts.idempotencyKey);
  }

  /** The SSE byte stream of a watch (one connection): read it with `watchEvents`, or use `watchForever`, which reconnects. */
  async watch(stream: string, opts: WatchOptions): Promise<ReadableStream<Uint8Array>> {
    const res = await this.send('GET', `${streamPath(stream)}/watch`, {
      key: opts.key,
      prefix: opts.prefix,
      from_revision: opts.fromRevision,
      max_duration_ms: opts.maxDurationMs,
      progress_ms: opts.progressMs,
    });
    if (!res.ok || !res.body) return this.fail(res, await res.text());
    return res.body;
  }

  async lock(stream: string, name: string, opts: LockOptions): Promise<LockResult> {
    return this.request('POST', `${streamPath(stream)}/locks/${encodeURIComponent(name)}`, {}, { lease: opts.lease, ...(opts.waitMs !== undefined ? { wait_ms: opts.waitMs } : {}) });
  }

  async unlock(stream: string, name: string, key: string, opts: UnlockOptions = {}): Promise<UnlockResult> {
    return this.request('DELETE', `${streamPath(stream)}/locks/${encodeURIComponent(name)}`, {}, { key, ...(opts.revision !== undefined ? { revision: opts.revision } : {}) });
  }

  async campaign(stream: string, name: string, opts: CampaignOptions): Promise<LockResult> {
    const body = { lease: opts.lease, value: opts.value, ...(opts.waitMs !== undefined ? { wait_ms: opts.waitMs } : {}) };
    return this.request('POST', `${electionPath(stream, name)}/campaign`, {}, body);
  }

  async leader(stream: string, name: string): Promise<ElectionLeader | null> {
    try {
      return await this.request<ElectionLeader>('GET', electionPath(stream, name), {});
    } catch (e) {
      if (e instanceof EdgePaxosError && e.code === 'not_found') return null;
      throw e;
    }
  }

  async proclaim(stream: string, name: string, key: string, revision: number, value: string): Promise<ProclaimResult> {
    return this.request('POST', `${electionPath(stream, name)}/proclaim`, {}, { key, revision, value });
  }

  async resign(stream: string, name: string, key: string, revision: number): Promise<ResignResult> {
    return this.request('POST', `${electionPath(stream, name)}/resign`, {}, { key, revision });
  }

  /** The status of every stream this client's token may read, in one request. */
  async statusAll(): Promise<ClusterStatus> {
    return this.request('GET', '/v1/status', {});
  }

  // ---------------------------------------------------------------- keyspaces (keys travel in the path, percent-encoded as one segment)

  async ksPut(keyspace: string, key: string, value: string, opts: Omit<PutOptions, 'lease'> = {}): Promise<KeyspacePutResult> {
    const body = { value, ...(opts.ifRevision !== undefined ? { if_revision: opts.ifRevision } : {}) };
    return this.request('PUT', `${keyspacePath(keyspace)}/kv/${encodeURIComponent(key)}`, {}, body, opts.idempotencyKey);
  }

  async ksGet(keyspace: string, key: string, opts: GetOptions = {}): Promise<KeyspaceItem | null> {
    try {
      return await this.request<KeyspaceItem>('GET', `${keyspacePath(keyspace)}/kv/${encodeURIComponent(key)}`, { consistency: opts.consistency });
    } catch (e) {
      if (e instanceof EdgePaxosError && e.code === 'not_found') return null;
      throw e;
    }
  }

  async ksDelete(keyspace: string, key: string, opts: DeleteOptions = {}): Promise<KeyspaceDeleteResult> {
    return this.request('DELETE', `${keyspacePath(keyspace)}/kv/${encodeURIComponent(key)}`, { if_revision: opts.ifRevision }, undefined, opts.idempotencyKey);
  }

  async ksList(keyspace: string, opts: ListOptions = {}): Promise<KeyspaceListResult> {
    return this.request('GET', `${keyspacePath(keyspace)}/kv`, { prefix: opts.prefix, limit: opts.limit, cursor: opts.cursor, start_after: opts.startAfter, consistency: opts.consistency });
  }

  async ksTxn(keyspace: string, request: TxnRequest, opts: TxnOptions = {}): Promise<KeyspaceTxnResult> {
    return this.request('POST', `${keyspacePath(keyspace)}/txn`, {}, request, opts.idempotencyKey);
  }

  async ksStatus(keyspace: string): Promise<KeyspaceStatus> {
    return this.request('GET', `${keyspacePath(keyspace)}/status`, {});
  }

  /** The streams this client's token may read, with their leaders. */
  async streams(): Promise<StreamList> {
    return this.request('GET', '/v1/streams', {});
  }

  /** A stream's definition (every default filled in) and where it comes from. */
  async stream(name: string): Promise<StreamEntry> {
    return this.request('GET', streamPath(name), {});
  }

  // ---------------------------------------------------------------- operator controls (an admin grant)

  /** The members of the configuration in effect (a read grant is enough). */
  async members(stream: string): Promise<MembersResult> {
    return this.request('GET', `${streamPath(stream)}/members`, {});
  }

  /** Add a replica: it joins as a learner and becomes `role` once caught up (`message` says what is left if it has not yet). */
  async addMember(stream: string, member: AddMemberOptions): Promise<MembersResult> {
    const { waitMs, ...rest } = member;
    return this.request('POST', `${streamPath(stream)}/members`, {}, { ...rest, ...(waitMs !== undefined ? { wait_ms: waitMs } : {}) });
  }

  /** Change a member's role, priority, weight, group or region. */
  async updateMember(stream: string, id: number, change: MemberChange): Promise<MembersResult> {
    const { waitMs, ...rest } = change;
    return this.request('PATCH', `${streamPath(stream)}/members/${id}`, {}, { ...rest, ...(waitMs !== undefined ? { wait_ms: waitMs } : {}) });
  }

  /** Remove a member (a leader hands over first). */
  async removeMember(stream: string, id: number, opts: WaitOptions = {}): Promise<MembersResult> {
    return this.request('DELETE', `${streamPath(stream)}/members/${id}`, { wait_ms: opts.waitMs });
  }

  /** Rebuild a replica in place: a blank new incarnation, caught up by the leader. */
  async rebuild(stream: string, id: number, opts: WaitOptions = {}): Promise<MembersResult> {
    return this.request('POST', `${streamPath(stream)}/replicas/${id}/rebuild`, { wait_ms: opts.waitMs });
  }

  /** Hand leadership to `target` (Patroni switchover); answers once it leads. */
  async switchover(stream: string, target: number, opts: TimeoutOptions = {}): Promise<LeadershipResult> {
    return this.request('POST', `${streamPath(stream)}/switchover`, {}, { target, ...(opts.timeoutMs !== undefined ? { timeout_ms: opts.timeoutMs } : {}) });
  }

  /** The leader hands over to the best other replica. */
  async stepDown(stream: string, opts: TimeoutOptions = {}): Promise<LeadershipResult> {
    return this.request('POST', `${streamPath(stream)}/step-down`, {}, opts.timeoutMs !== undefined ? { timeout_ms: opts.timeoutMs } : {});
  }

  /**
   * Make `candidate` campaign now, without a pre-vote (Patroni failover: for
   * when the leader is lost, or in manual run mode); `elected` says whether it won.
   */
  async failover(stream: string, candidate: number): Promise<LeadershipResult> {
    return this.request('POST', `${streamPath(stream)}/replicas/${candidate}/campaign`, {});
  }

  /** `manual` stops every replica from starting elections by itself (Patroni pause); `automatic` resumes. */
  async setRunMode(stream: string, mode: RunMode): Promise<RunModeResult> {
    return this.request('PUT', `${streamPath(stream)}/run-mode`, {}, { mode });
  }

  /** Minority force-start (the survivors decide with `voteNum` of them), or back to `normal`. */
  async setWorkMode(stream: string, request: WorkModeRequest): Promise<WorkModeResult> {
    const body = request.mode === 'minority' ? { mode: 'minority', replicas: request.replicas, vote_num: request.voteNum } : { mode: 'normal' };
    return this.request('PUT', `${streamPath(stream)}/work-mode`, {}, body);
  }

  /** Create a stream at run time (an admin grant on its name). */
  async createStream(definition: StreamDefinition): Promise<StreamEntry> {
    return this.request('POST', '/v1/streams', {}, definition);
  }

  /** Delete a stream created at run time, wiping its replicas. */
  async deleteStream(name: string): Promise<StreamDeletion> {
    return this.request('DELETE', streamPath(name), {});
  }

  /** Add shards to a keyspace created at run time while it serves; the same count resumes an unfinished grow (an admin grant). */
  async growKeyspace(keyspace: string, shards: number): Promise<KeyspaceGrowResult> {
    return this.request('POST', `${keyspacePath(keyspace)}/grow`, {}, { shards });
  }

  /** A consistent snapshot of the stream's state at a decided slot, with its checksum (a backup; an admin grant). */
  async snapshot(stream: string): Promise<SnapshotDocument> {
    return this.request('GET', `${streamPath(stream)}/snapshot`, {});
  }

  /**
   * Restore `snapshot` into a new stream `name` (created by the restore, with
   * the snapshot's definition). `state` is `active` once every replica holds
   * it; `restoring` (with `not_reached`) if some do not yet: call it again.
   */
  async restore(name: string, snapshot: SnapshotDocument): Promise<RestoreResult> {
    return this.request('POST', `${streamPath(name)}/restore`, {}, snapshot);
  }

  /** Every member snapshots its state machine and truncates its log now (an admin grant). */
  async truncate(stream: string): Promise<TruncationResult> {
    return this.request('POST', `${streamPath(stream)}/snapshot`, {});
  }

  /** Whether replica `id` answers (a read grant; `unavailable` otherwise). */
  async health(stream: string, id: number): Promise<HealthResult> {
    return this.request('GET', `${streamPath(stream)}/replicas/${id}/health`, {});
  }

  /** Whether replica `id` leads (a read grant; `not_leader` otherwise). */
  async leaderCheck(stream: string, id: number): Promise<LeaderCheckResult> {
    return this.request('GET', `${streamPath(stream)}/replicas/${id}/leader`, {});
  }

  /** Whether replica `id` is a healthy follower within `lag` slots (a read grant). */
  async replicaCheck(stream: string, id: number, opts: ReplicaCheckOptions = {}): Promise<ReplicaCheckResult> {
    return this.request('GET', `${streamPath(stream)}/replicas/${id}/replica`, { lag: opts.lag });
  }

  /** Fault injection (an admin grant; only where the Worker runs with EDGEPAXOS_CHAOS=on). */
  async chaos(stream: string, action: ChaosAction): Promise<ChaosResult> {
    return this.request('POST', `${streamPath(stream)}/chaos`, {}, action);
  }

  /** Prometheus metrics (text format) of the streams this client's token may read, and of the Worker's requests. */
  async metrics(): Promise<string> {
    return this.request('GET', '/metrics', {}, undefined, undefined, 'text');
  }

  /**
   * One request; every answer that is not 2xx becomes an EdgePaxosError with
   * the API's code (or `http_<status>` when the answer is not the API's JSON).
   * A 2xx answer is parsed as JSON, or returned as it is (`as: 'text'`).
   */
  private async request<T>(method: string, path: string, query: Query, body?: unknown, idempotencyKey?: string, as: 'json' | 'text' = 'json'): Promise<T> {
    const res = await this.send(method, path, query, body, idempotencyKey);
    const text = await res.text();
    if (!res.ok) return this.fail(res, text);
    if (as === 'text') return text as T;
    try {
      return (text === '' ? undefined : JSON.parse(text)) as T;
    } catch {
      return undefined as T;
    }
  }

  private async send(method: string, path: string, query: Query, body?: unknown, idempotencyKey?: string): Promise<Response> {
    const search = new URLSearchParams();
    for (const [name, value] of Object.entries(query)) if (value !== undefined) search.set(name, String(value));
    const qs = search.toString();
    const headers: Record<string, string> = {};
    if (this.token !== undefined) headers.authorization = `Bearer ${this.token}`;
    if (idempotencyKey !== undefined) headers['idempotency-key'] = idempotencyKey;
    if (body !== undefined) headers['content-type'] = 'application/json';
    return this.doFetch(`${this.base}${path}${qs ? `?${qs}` : ''}`, {
      method,
      headers,
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
  }

  /** An answer that is not 2xx, as an EdgePaxosError with the API's code (or `http_<status>` when it is not the API's JSON). */
  private fail(res: Response, text: string): never {
    let json: unknown;
    try {
      json = text === '' ? undefined : JSON.parse(text);
    } catch {
      json = undefined;
    }
    const error = (json as { error?: { code?: unknown; message?: unknown } } | undefined)?.error;
    if (error && typeof error.code === 'string' && typeof error.message === 'string') {
      const { code, message, ...details } = error as Record<string, unknown> & { code: string; message: string };
      throw new EdgePaxosError(code, message, res.status, details);
    }
    throw new EdgePaxosError(`http_${res.status}`, text.slice(0, 200) || res.statusText, res.status);
  }
}

function keyspacePath(keyspace: string): string {
  return `/v1/keyspaces/${encodeURIComponent(keyspace)}`;
}

function streamPath(stream: string): string {
  return `/v1/streams/${encodeURIComponent(stream)}`;
}

function electionPath(stream: string, name: string): string {
  return `${streamPath(stream)}/elections/${encodeURIComponent(name)}`;
}
