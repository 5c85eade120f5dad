/**
 * The types of edgepaxos's API, shared by the HTTP client and the RPC
 * entrypoints (`EdgePaxos` for data, `EdgePaxosAdmin` for operator controls).
 * Types only: importing them pulls no runtime code.
 */

export type Consistency = 'linearizable' | 'stale';

export interface KvItem {
  readonly key: string;
  readonly value: string;
  /** The log slot that wrote the value. */
  readonly revision: number;
}

export interface PutOptions {
  /** Compare-and-set: write only if the key's revision is this (0: only if the key is absent). */
  readonly ifRevision?: number;
  /** Attach the key to this lease: it is deleted when the lease ends (without: attached to none). */
  readonly lease?: string;
  /** Apply at most once: a retry with the same key gets the first result (1-256 characters). */
  readonly idempotencyKey?: string;
}

export interface GetOptions {
  /** `linearizable` (default) reads through the leader; `stale` answers from the nearest replica, possibly behind. */
  readonly consistency?: Consistency;
}

export interface DeleteOptions {
  /** Compare-and-delete: delete only if the key's revision is this. */
  readonly ifRevision?: number;
  readonly idempotencyKey?: string;
}

export interface ListOptions {
  /** Only keys starting with this. */
  readonly prefix?: string;
  /** 1 to 1000 (default 100). */
  readonly limit?: number;
  /** The `cursor` of the previous page. */
  readonly cursor?: string;
  /** Only keys after this one (instead of `cursor`). */
  readonly startAfter?: string;
  readonly consistency?: Consistency;
}

export interface AppendOptions {
  readonly idempotencyKey?: string;
}

export interface ReadOptions {
  /** The first slot to read (default 1); a truncated slot fails with `compacted`. */
  readonly from?: number;
  /** 1 to 1000 (default 100). */
  readonly limit?: number;
}

export interface PutResult {
  readonly revision: number;
}

export interface DeleteResult {
  readonly deleted: boolean;
  readonly revision: number;
}

export interface ListResult {
  readonly items: KvItem[];
  /** Present when more keys may follow: pass it as `cursor`. */
  readonly cursor?: string;
}

export interface AppendResult {
  /** The slot of the record. */
  readonly index: number;
}

export interface LogRecord {
  readonly index: number;
  readonly data: string;
}

export interface ReadResult {
  readonly entries: LogRecord[];
}

export interface NodeStatus {
  readonly node_id: number;
  readonly region: string | null;
  readonly role: string;
  readonly priority: number;
  readonly weight: number;
  readonly group: number;
  readonly applied_index: number | null;
  readonly commit_index: number | null;
  readonly first_index: number | null;
  readonly last_index: number | null;
  readonly term: number | null;
  readonly leader_id: number | null;
  /** Slots behind the leader's decided index (applied, or decided for a logger); null without a leader or an answer. */
  readonly lag: number | null;
  readonly healthy: boolean;
  readonly quiescent: boolean | null;
  readonly partitioned_from: readonly number[];
  /** The node's latest role change and its reason (null: none since it started, or it did not answer). */
  readonly last_transition: string | null;
  /** The latest thing the node declined to do and why (null: nothing since it started, or it did not answer). */
  readonly last_refusal: string | null;
}

/** DCF-style status of a stream (GET /v1/streams/{stream}/status). */
export interface StreamStatus {
  readonly stream: string;
  readonly leader_id: number | null;
  readonly term: number;
  readonly run_mode: string;
  readonly work_mode: string;
  readonly vote_num: number | null;
  readonly minority_replicas: readonly number[] | null;
  readonly epoch: number;
  readonly hb_interval_ms: number;
  readonly elc_timeout_ms: number;
  readonly commit_index: number;
  readonly cluster_min_apply_idx: number | null;
  readonly policy: string;
  readonly configuration_index: number;
  readonly configuration_change_pending: boolean;
  readonly priority_election: { readonly enabled: boolean; readonly failback: boolean; readonly min_leader_tenure_ms: number };
  readonly writes_blocked: string | null;
  readonly transferring_to: number | null;
  readonly nodes: readonly NodeStatus[];
}

// ---------------------------------------------------------------- transactions

/** A condition on one key: `revision` (0: absent), `create_revision` or `value`; `<` and `>` on revisions only. */
export interface TxnCompare {
  readonly key: string;
  readonly target: 'revision' | 'create_revision' | 'value';
  readonly op: '==' | '!=' | '<' | '>';
  readonly value: number | string;
}

/** One operation of a branch. `ignore_lease`: keep the key's current lease (etcd's ignore_lease). */
export type TxnOp =
  | { readonly put: { readonly key: string; readonly value: string; readonly lease?: string; readonly ignore_lease?: boolean } }
  | { readonly delete: { readonly key: string } }
  | { readonly delete_prefix: { readonly prefix: string } }
  | { readonly get: { readonly key: string } };

/** etcd's Txn: if every compare holds, `success` applies, else `failure`; one decided command, all at one revision. */
export interface TxnRequest {
  readonly compare?: readonly TxnCompare[];
  readonly success?: readonly TxnOp[];
  readonly failure?: readonly TxnOp[];
}

/** Per operation, in order: a put's revision, a delete's count of keys removed, or what a get saw. */
export type TxnOpResult =
  | { readonly revision: number }
  | { readonly deleted: number }
  | { readonly key: string; readonly value: string; readonly revision: number; readonly create_revision: number }
  | { readonly key: string; readonly found: false };

export interface TxnResult {
  readonly succeeded: boolean;
  /** The slot the transaction was decided at: the revision of everything it changed. */
  readonly revision: number;
  readonly results: readonly TxnOpResult[];
}

export interface TxnOptions {
  readonly idempotencyKey?: string;
}

// ---------------------------------------------------------------- leases

export interface LeaseGrantOptions {
  readonly idempotencyKey?: string;
}

export interface LeaseGrantResult {
  /** 16 hex digits (the slot of the grant). */
  readonly id: string;
  readonly ttl_ms: number;
}

export interface LeaseKeepAliveResult {
  readonly id: string;
  readonly ttl_ms: number;
}

export interface LeaseInfo {
  readonly id: string;
  readonly ttl_ms: number;
  /** The leader's estimate of the time left (do not rely on it: rely on your keep-alives, docs/coordination.md). */
  readonly remaining_ms: number;
  /** The attached keys (those the caller may read). */
  readonly keys: readonly string[];
}

export interface LeaseRevokeOptions {
  readonly idempotencyKey?: string;
}

export interface LeaseRevokeResult {
  readonly revoked: true;
  /** The keys deleted with it. */
  readonly keys: readonly string[];
  readonly revision: number;
}

// ---------------------------------------------------------------- watches

export interface WatchOptions {
  /** Watch one key ... */
  readonly key?: string;
  /** ... or every key under a prefix ('' for all). Give exactly one. */
  readonly prefix?: string;
  /** Replay from this revision (default: only changes after the watch starts). */
  readonly fromRevision?: number;
  /** Close the connection after this long (1 s to 5 min, default 5 min); reconnect with from_revision. */
  readonly maxDurationMs?: number;
  /** A progress event this often (1 s to 60 s, default 10 s). */
  readonly progressMs?: number;
}

/**
 * One event of a watch (one SSE `data:` line). `moved` (a stream watch of a keyspace's shard only): a grow
 * copied the key into this shard or dropped it from here after the copy, not a write; keyspace watches leave these out.
 */
export type WatchEvent =
  | { readonly type: 'put'; readonly key: string; readonly value: string; readonly revision: number; readonly create_revision: number; readonly moved?: true }
  | { readonly type: 'delete'; readonly key: string; readonly revision: number; readonly moved?: true }
  /** Every event at or below `revision` was sent; none follows. */
  | { readonly type: 'progress'; readonly revision: number }
  /** The revisions asked for were truncated: read the current state, then watch from its revision + 1. */
  | { readonly type: 'compacted'; readonly first_revision: number };

// ---------------------------------------------------------------- locks and elections

export interface LockOptions {
  /** The lease that holds the lock: it is released when the lease ends. */
  readonly lease: string;
  /** How long to wait in line before giving up (0 to 300 000, default 60 000). */
  readonly waitMs?: number;
}

export interface LockResult {
  /** The holder's key (`<name>/<lease>`): give it to unlock. */
  readonly key: string;
  /** The fencing token: the key's create revision, strictly increasing per lock name. */
  readonly revision: number;
}

export interface UnlockOptions {
  /** Release only if the key still has this create revision (the fencing token the lock returned). */
  readonly revision?: number;
}

export interface UnlockResult {
  /** False when the key was gone already (its lease ended, or it was released). */
  readonly released: boolean;
  readonly revision: number;
}

export interface CampaignOptions {
  readonly lease: string;
  /** What the leader proclaims (its address, say). */
  readonly value: string;
  /** How long to wait to be elected (0 to 300 000, default 60 000). */
  readonly waitMs?: number;
}

export interface ElectionLeader {
  readonly key: string;
  readonly value: string;
  /** The leadership's fencing token: the leader key's create revision (what campaign returned). */
  readonly revision: number;
  /** The revision of the latest proclaim (or of the campaign). */
  readonly mod_revision: number;
}

export interface ProclaimResult {
  readonly revision: number;
}

export interface ResignResult {
  readonly resigned: boolean;
  readonly revision: number;
}

/** One stream of `statusAll`: its status, or why it could not be had. */
export interface StreamOverview {
  readonly name: string;
  readonly kind: 'configured' | 'system' | 'dynamic';
  /** `active`, or `deleting` (a stream created at run time whose deletion has not reached every replica). */
  readonly state: string;
  readonly status: StreamStatus | null;
  readonly error: { readonly code: string; readonly message: string } | null;
}

/** Every stream the caller may read, each with its status (GET /v1/status). */
export interface ClusterStatus {
  readonly streams: readonly StreamOverview[];
  /** Why the streams created at run time could not be listed (the catalog has no leader), or null. */
  readonly catalog_error: string | null;
}

/**
 * The data operations, as both the RPC entrypoint and the HTTP client offer
 * them, so every operation has the same shape on both.
 */
// ---------------------------------------------------------------- keyspaces

/**
 * Answers in a keyspace say which shard served them: revisions are per shard,
 * so two revisions may be compared only when their `shard` is the same.
 */
export interface KeyspaceItem extends KvItem {
  readonly shard: number;
}

export interface KeyspacePutResult extends PutResult {
  readonly shard: number;
}

export interface KeyspaceDeleteResult extends DeleteResult {
  readonly shard: number;
}

export interface KeyspaceListResult {
  readonly items: readonly KeyspaceItem[];
  /** Present when more keys may follow: pass it as `cursor`. */
  readonly cursor?: string;
}

/** One operation's result in a keyspace transaction, with the shard it ran on. A put of a cross-shard transaction has no revision in the answer (its shard assigns it when it resolves the transaction, after the answer). */
export type KeyspaceTxnOpResult =
  | { readonly shard: number; readonly revision?: number }
  | { readonly shard: number; readonly deleted: number }
  | { readonly shard: number; readonly key: string; readonly value: string; readonly revision: number; readonly create_revision: number }
  | { readonly shard: number; readonly key: string; readonly found: false };

export interface KeyspaceTxnResult {
  readonly succeeded: boolean;
  readonly results: readonly KeyspaceTxnOpResult[];
  /** The shards the transaction touched, ascending. */
  readonly shards: readonly number[];
  /** A single-shard transaction: the slot of its shard it was decided at. */
  readonly revision?: number;
  /** A cross-shard transaction: its id (intents and the coordinator's outcome are kept under it). */
  readonly txid?: string;
}

export interface KeyspaceShardStatus {
  readonly shard: number;
  readonly stream: string;
  readonly leader_id: number | null;
  readonly leader_region: string | null;
  readonly commit_index: number | null;
  /** A leader answered. */
  readonly healthy: boolean;
  /** `leaders: follow`: the region the shard prefers now (the region of its top-priority electable replica, as its leader sees it). */
  readonly followed_region?: string | null;
  /** `leaders: follow`: the leader's counted writes of its current window, per origin region. */
  readonly window_writes?: Readonly<Record<string, number>>;
}

/** The answer of a keyspace grow (`POST /v1/keyspaces/{ks}/grow`, `growKeyspace`). */
export interface KeyspaceGrowResult {
  readonly name: string;
  readonly map_version: number;
  readonly shards: number;
  /** `growing`: some range is still moving; repeat the call to finish it. */
  readonly state: 'grown' | 'growing';
  /** The hash ranges `[from, to)` of the grow in progress, from `source` shard to `target` shard; empty once grown. */
  readonly moves: readonly { readonly from: number; readonly to: number; readonly source: number; readonly target: number; readonly done: boolean }[];
}

export interface KeyspaceStatus {
  readonly name: string;
  readonly map_version: number;
  readonly shards: readonly KeyspaceShardStatus[];
}

/** A keyspace definition: one entry of EDGEPAXOS_CONFIG's `keyspaces` (docs/scaling.md), the body of a create. */
export interface KeyspaceDefinition {
  readonly name: string;
  /** 1 to 256. */
  readonly shards: number;
  /** Ids are given in order (1, 2, ...): a replica here has no `id`. */
  readonly replicas: readonly { readonly region: string; readonly priority?: number; readonly role?: 'follower' | 'logger' | 'passive' }[];
  /** `spread` (shard i led from the (i mod R)-th region) or a region (every shard led from there). */
  readonly leaders?: string;
  /** Every stream setting but the name and the ids (docs/configuration.md): timings, `policy`, `log`, `flow_control`, ... */
  readonly [option: string]: string | number | boolean | null | undefined | object;
}

/** A keyspace: where it comes from, its definition and its shard map's version and streams. */
export interface KeyspaceEntry {
  readonly name: string;
  readonly kind: 'configured' | 'dynamic';
  /** A keyspace created at run time: `active`, or `deleting` (a deletion that has not reached every shard replica). */
  readonly state?: string;
  readonly incarnation?: string;
  readonly created_at?: string;
  readonly map_version: number;
  /** The shards' stream names, shard 0 first. */
  readonly shards: readonly string[];
  readonly definition?: KeyspaceDefinition;
  /** A grow in progress (`POST /v1/keyspaces/{ks}/grow`): the map is already the grown one; these hash ranges move, each `done` once its new shard serves it. */
  readonly grow?: {
    readonly from_shards: number;
    readonly started_at: string;
    readonly moves: readonly { readonly from: number; readonly to: number; readonly source: number; readonly target: number; readonly done: boolean }[];
  };
}

/** Every keyspace the caller may read (GET /v1/keyspaces). */
export interface KeyspaceList {
  readonly keyspaces: readonly KeyspaceEntry[];
  /** Why the keyspaces created at run time could not be listed (the catalog has no leader), or null. */
  readonly catalog_error: string | null;
}

export interface KeyspaceDeletion {
  readonly name: string;
  readonly incarnation: string;
  /** `deleted`, or `deleting` while the shard replicas in `not_reached` (`<stream>/<id>`) have not wiped themselves (repeat the call). */
  readonly state: 'deleted' | 'deleting';
  readonly not_reached: readonly string[];
}

/** A watch over a keyspace: a key (its shard) or a prefix (every shard), merged. */
export interface KeyspaceWatchOptions {
  /** Watch one key ... */
  readonly key?: string;
  /** ... or every key under a prefix ('' for all). Give exactly one. */
  readonly prefix?: string;
  /**
   * Where to start, per shard: a cursor `SHARD:REVISION,...` (each shard from that revision on,
   * as a stream's from_revision), normally the `id:` of the last event received. With a cursor, a shard it does not name
   * (a grow's new shard) starts at its first revision; without one, every shard starts with the changes after the watch starts.
   */
  readonly fromRevision?: string;
  /** Close the connection after this long (1 s to 5 min, default 5 min); reconnect with the cursor. */
  readonly maxDurationMs?: number;
  /** A progress event per shard this often (1 s to 60 s, default 10 s). */
  readonly progressMs?: number;
}

/** A keyspace watch's event: a stream watch's, with the shard it comes from (revisions, `first_revision` included, are that shard's). */
export type KeyspaceWatchEvent = WatchEvent & { readonly shard: number };

/** Reading the keyspace collection: the data entrypoint, the operator entrypoint and the HTTP client alike. */
export interface KeyspaceCatalogApi {
  /** Every keyspace the caller may read. */
  keyspaces(): Promise<KeyspaceList>;
  /** A keyspace's definition and shard map. */
  keyspace(name: string): Promise<KeyspaceEntry>;
}

/** Changing the keyspace collection: the operator entrypoint and the HTTP client (an admin grant), never the data entrypoint. */
export interface KeyspaceAdminApi extends KeyspaceCatalogApi {
  createKeyspace(definition: KeyspaceDefinition): Promise<KeyspaceEntry>;
  deleteKeyspace(name: string): Promise<KeyspaceDeletion>;
}

/** The keyspace operations, over HTTP and over the binding alike. */
export interface KeyspaceApi extends KeyspaceCatalogApi {
  ksPut(keyspace: string, key: string, value: string, opts?: Omit<PutOptions, 'lease'>): Promise<KeyspacePutResult>;
  ksGet(keyspace: string, key: string, opts?: GetOptions): Promise<KeyspaceItem | null>;
  ksDelete(keyspace: string, key: string, opts?: DeleteOptions): Promise<KeyspaceDeleteResult>;
  ksList(keyspace: string, opts?: ListOptions): Promise<KeyspaceListResult>;
  ksTxn(keyspace: string, request: TxnRequest, opts?: TxnOptions): Promise<KeyspaceTxnResult>;
  ksStatus(keyspace: string): Promise<KeyspaceStatus>;
  /** A watch over a key or prefix of the keyspace, every shard's merged, as Server-Sent Events: read it with `keyspaceWatchEvents`, or let `watchKeyspaceForever` reconnect. */
  ksWatch(keyspace: string, opts: KeyspaceWatchOptions): Promise<ReadableStream<Uint8Array>>;
}

export interface DataApi {
  put(stream: string, key: string, value: string, opts?: PutOptions): Promise<PutResult>;
  /** The item, or null when the key is absent. */
  get(stream: string, key: string, opts?: GetOptions): Promise<KvItem | null>;
  delete(stream: string, key: string, opts?: DeleteOptions): Promise<DeleteResult>;
  list(stream: string, opts?: ListOptions): Promise<ListResult>;
  append(stream: string, data: string, opts?: AppendOptions): Promise<AppendResult>;
  read(stream: string, opts?: ReadOptions): Promise<ReadResult>;
  status(stream: string): Promise<StreamStatus>;
  txn(stream: string, request: TxnRequest, opts?: TxnOptions): Promise<TxnResult>;
  leaseGrant(stream: string, ttlMs: number, opts?: LeaseGrantOptions): Promise<LeaseGrantResult>;
  leaseKeepAlive(stream: string, id: string): Promise<LeaseKeepAliveResult>;
  leaseGet(stream: string, id: string): Promise<LeaseInfo>;
  leaseRevoke(stream: string, id: string, opts?: LeaseRevokeOptions): Promise<LeaseRevokeResult>;
  /** Server-Sent Events: parse with `watchEvents`, or let `watchForever` reconnect for you (src/client/watch.ts). */
  watch(stream: string, opts: WatchOptions): Promise<ReadableStream<Uint8Array>>;
  lock(stream: string, name: string, opts: LockOptions): Promise<LockResult>;
  unlock(stream: string, name: string, key: string, opts?: UnlockOptions): Promise<UnlockResult>;
  campaign(stream: string, name: string, opts: CampaignOptions): Promise<LockResult>;
  /** The current leader, or null when there is none. */
  leader(stream: string, name: string): Promise<ElectionLeader | null>;
  proclaim(stream: string, name: string, key: string, revision: number, value: string): Promise<ProclaimResult>;
  resign(stream: string, name: string, key: string, revision: number): Promise<ResignResult>;
  /** The status of every stream the caller may read. */
  statusAll(): Promise<ClusterStatus>;
  /** Prometheus metrics (text format): the streams the caller may read, and the Worker's requests. */
  metrics(): Promise<string>;
  /** A consistent snapshot of the stream's state at a decided slot, with its checksum (over HTTP: an admin grant). */
  snapshot(stream: string): Promise<SnapshotDocument>;
}

// ---------------------------------------------------------------- operator controls (an admin grant, or the EdgePaxosAdmin binding)

export type MemberRole = 'follower' | 'logger' | 'passive';

/** A member of a stream's configuration. */
export interface MemberInfo {
  readonly node_id: number;
  readonly region: string | null;
  readonly role: MemberRole;
  readonly priority: number;
  readonly weight: number;
  readonly group: number;
  /** Which life of the replica: 1 until it is rebuilt in place. */
  readonly incarnation: number;
}

/** The configuration in effect after a membership change (or as listed), and what the change did. */
export interface MembersResult {
  readonly stream: string;
  readonly leader_id: number;
  /** The log slot of the configuration in effect (0: the bootstrap one). */
  readonly configuration_index: number;
  readonly policy: string;
  readonly members: readonly MemberInfo[];
  /** The member added or changed. */
  readonly member?: number;
  readonly removed?: number;
  readonly rebuilt?: number;
  readonly incarnation?: number;
  readonly role?: string;
  /** Present when the change is not complete yet (a learner not caught up): what to do next. */
  readonly message?: string;
}

export interface AddMemberOptions {
  readonly id: number;
  readonly region: string;
  /** What it becomes once caught up: a voting follower (default) or a passive read replica. */
  readonly role?: 'follower' | 'passive';
  readonly priority?: number;
  readonly weight?: number;
  readonly group?: number;
  /** How long to wait for it to catch up before answering (it stays a learner if it has not). */
  readonly waitMs?: number;
}

export interface MemberChange {
  readonly role?: MemberRole;
  readonly priority?: number;
  readonly weight?: number;
  readonly group?: number;
  readonly region?: string;
  readonly waitMs?: number;
}

export interface WaitOptions {
  /** How long to wait for the change, in milliseconds. */
  readonly waitMs?: number;
}

export interface TimeoutOptions {
  /** How long to wait for the hand-over, in milliseconds (default 10 000). */
  readonly timeoutMs?: number;
}

/** The leader after a switchover, step-down or failover. */
export interface LeadershipResult {
  readonly leader_id: number | null;
  readonly took_ms: number;
  /** Switchover: false if the target already led. */
  readonly changed?: boolean;
  /** Step-down: who led before. */
  readonly previous_leader_id?: number;
  /** Failover: whether the candidate won. */
  readonly elected?: boolean;
}

export type RunMode = 'automatic' | 'manual';

export interface RunModeResult {
  readonly run_mode: RunMode;
  /** Replicas that did not take the mode (repeat the call for them). */
  readonly not_reached: readonly number[];
}

export type WorkModeRequest = { readonly mode: 'minority'; readonly replicas: readonly number[]; readonly voteNum: number } | { readonly mode: 'normal' };

export interface WorkModeResult {
  readonly work_mode: 'minority' | 'normal';
  readonly replicas?: readonly number[];
  readonly vote_num?: number;
  readonly epoch?: number;
  readonly not_reached: readonly number[];
}

/** One replica of a stream definition. */
export interface ReplicaDefinition {
  readonly id: number;
  readonly region: string;
  readonly priority?: number;
  readonly role?: MemberRole;
  readonly weight?: number;
  readonly group?: number;
}

/** A stream definition: one entry of EDGEPAXOS_CONFIG's `streams` (docs/configuration.md has every option). */
export interface StreamDefinition {
  readonly name: string;
  readonly replicas: readonly ReplicaDefinition[];
  readonly [option: string]: unknown;
}

/** A stream: where it comes from and its definition with every default filled in. */
export interface StreamEntry {
  readonly name: string;
  /** `shard`: shard `shard` of keyspace `keyspace`, its definition derived from the keyspace's. */
  readonly kind: 'configured' | 'system' | 'dynamic' | 'shard';
  readonly keyspace?: string;
  readonly shard?: number;
  readonly state?: string;
  readonly incarnation?: string;
  readonly created_at?: string;
  readonly definition: StreamDefinition;
}

export interface StreamDeletion {
  readonly name: string;
  readonly incarnation: string;
  /** `deleted`, or `deleting` while replicas in `not_reached` have not wiped themselves (repeat the call). */
  readonly state: 'deleted' | 'deleting';
  readonly not_reached: readonly number[];
}

/**
 * A stream definition as a snapshot carries it: its name, replicas and
 * settings (every default filled in), typed no further than the shapes the
 * settings take (docs/configuration.md has their meaning).
 */
export interface StreamSettings {
  readonly name: string;
  readonly replicas: readonly ReplicaDefinition[];
  readonly [setting: string]: string | number | boolean | null | readonly ReplicaDefinition[] | Readonly<Record<string, string | number | boolean | null | readonly (string | number)[]>>;
}

/** A backup: a stream's state machine at decided slot `slot`, with its checksum (GET /v1/streams/{stream}/snapshot). */
export interface SnapshotDocument {
  readonly format: 'edgepaxos-snapshot';
  readonly version: 1;
  /** The stream it was taken from. */
  readonly stream: string;
  /** The decided slot the state was applied through. */
  readonly slot: number;
  readonly created_at: string;
  /** The definition of the stream it came from (docs/configuration.md); a restore creates the new stream with it (under the new name). */
  readonly definition: StreamSettings;
  /** Size of `state` in UTF-8 bytes. */
  readonly bytes: number;
  /** SHA-256 of `state` (UTF-8), in hex: a restore refuses a snapshot whose state does not match it. */
  readonly sha256: string;
  readonly state: string;
}

/** What a restore answers: `active` once every replica holds the snapshot, else `restoring` with those that do not (repeat it). */
export interface RestoreResult {
  readonly name: string;
  readonly state: 'active' | 'restoring';
  readonly incarnation: string;
  readonly restored_slot: number;
  readonly not_reached?: readonly number[];
  readonly message?: string;
  readonly definition?: StreamDefinition;
}

/** Each member's first log index after a snapshot-and-truncate (null: it did not answer), and those not reached. */
export interface TruncationResult {
  readonly first_index: Readonly<Record<string, number | null>>;
  readonly not_reached: readonly number[];
}

/** A live replica (health check). */
export interface HealthResult {
  readonly node_id: number;
  readonly alive: true;
  readonly role: string;
  readonly leader_id: number | null;
  readonly applied_index: number | null;
}

/** The replica leads (health check; otherwise `not_leader`). */
export interface LeaderCheckResult {
  readonly node_id: number;
  readonly leader: true;
  readonly term: number;
}

/** A healthy follower (health check; otherwise `not_a_healthy_replica` or `lagging`). */
export interface ReplicaCheckResult {
  readonly node_id: number;
  readonly replica: true;
  readonly role: string;
  /** Slots behind the leader (null: no leader seen). */
  readonly lag: number | null;
}

export interface ReplicaCheckOptions {
  /** Healthy only if at most this many slots behind the leader. */
  readonly lag?: number;
}

/** One row of the stream list. */
export interface StreamSummary {
  readonly name: string;
  /** `shard`: shard `shard` of keyspace `keyspace` (its keys are written through the keyspace). */
  readonly kind: 'configured' | 'system' | 'dynamic' | 'shard';
  readonly replicas: readonly number[];
  readonly leader_id: number | null;
  readonly leader_region: string | null;
  readonly state?: string;
  readonly keyspace?: string;
  readonly shard?: number;
}

/** Every stream the caller may read, with its leader (GET /v1/streams). */
export interface StreamList {
  readonly streams: StreamSummary[];
  /** Why the streams created at run time could not be listed (the catalog has no leader), or null. */
  readonly catalog_error: string | null;
}

/** Fault injection (only where the Worker runs with EDGEPAXOS_CHAOS=on). */
export type ChaosAction =
  /** Crash a replica; it stays down `down_ms` (default 0: it restarts at the next call). */
  | { readonly action: 'crash'; readonly replica: number; readonly down_ms?: number }
  /** Split the replicas into groups that cannot reach each other. */
  | { readonly action: 'partition'; readonly groups: readonly (readonly number[])[] }
  /** Duplicate and delay messages between replicas (defaults 0.2 and 50 ms). */
  | { readonly action: 'unreliable'; readonly duplicate_rate?: number; readonly delay_ms_max?: number }
  | { readonly action: 'heal' };

/** What a fault injection did. */
export type ChaosResult =
  | { readonly crashed: number; readonly down_ms: number }
  | { readonly partitioned: readonly (readonly number[])[] }
  | { readonly unreliable: { readonly duplicate_rate: number; readonly delay_ms_max: number } }
  | { readonly healed: true };

/**
 * The operator controls, as both the EdgePaxosAdmin entrypoint and the HTTP
 * client offer them (over HTTP: an admin grant on the stream; a read grant
 * for members, the health checks and the stream list). A binding to the
 * data entrypoint (`EdgePaxos`) has none of them.
 */
export interface AdminApi extends KeyspaceAdminApi {
  /** Hand leadership to `target` (Patroni switchover); answers once it leads. */
  switchover(stream: string, target: number, opts?: TimeoutOptions): Promise<LeadershipResult>;
  /** The leader hands over to the best other replica. */
  stepDown(stream: string, opts?: TimeoutOptions): Promise<LeadershipResult>;
  /** `candidate` campaigns now, without a pre-vote (Patroni failover, DCF promote); `elected` says whether it won. */
  failover(stream: string, candidate: number): Promise<LeadershipResult>;
  /** `manual` stops elections started by the replicas themselves (pause); `automatic` resumes. */
  setRunMode(stream: string, mode: RunMode): Promise<RunModeResult>;
  /** Minority force-start, or back to `normal`. */
  setWorkMode(stream: string, request: WorkModeRequest): Promise<WorkModeResult>;
  /** Every member snapshots its state and truncates its log now. */
  truncate(stream: string): Promise<TruncationResult>;
  /** Whether replica `id` answers (`unavailable` otherwise). */
  health(stream: string, id: number): Promise<HealthResult>;
  /** Whether replica `id` leads (`not_leader` otherwise). */
  leaderCheck(stream: string, id: number): Promise<LeaderCheckResult>;
  /** Whether replica `id` is a healthy follower within `lag` slots (`not_a_healthy_replica`, `lagging` otherwise). */
  replicaCheck(stream: string, id: number, opts?: ReplicaCheckOptions): Promise<ReplicaCheckResult>;
  members(stream: string): Promise<MembersResult>;
  addMember(stream: string, member: AddMemberOptions): Promise<MembersResult>;
  updateMember(stream: string, id: number, change: MemberChange): Promise<MembersResult>;
  removeMember(stream: string, id: number, opts?: WaitOptions): Promise<MembersResult>;
  rebuild(stream: string, id: number, opts?: WaitOptions): Promise<MembersResult>;
  /** Every stream the caller may read, with its leader. */
  streams(): Promise<StreamList>;
  /** A stream's definition and where it comes from. */
  stream(name: string): Promise<StreamEntry>;
  createStream(definition: StreamDefinition): Promise<StreamEntry>;
  deleteStream(name: string): Promise<StreamDeletion>;
  /** Add shards to a keyspace created at run time while it serves (docs/scaling.md); the same count resumes an unfinished grow. */
  growKeyspace(keyspace: string, shards: number): Promise<KeyspaceGrowResult>;
  /** A consistent snapshot (a backup), as the data entrypoint's `snapshot`. */
  snapshot(stream: string): Promise<SnapshotDocument>;
  /** Restore a snapshot into a new stream `name`. */
  restore(name: string, snapshot: SnapshotDocument): Promise<RestoreResult>;
  /** Fault injection; refused (`chaos_disabled`) unless the Worker runs with EDGEPAXOS_CHAOS=on. */
  chaos(stream: string, action: ChaosAction): Promise<ChaosResult>;
}
