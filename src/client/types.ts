/**
 * The types of edgepaxos's API, shared by the HTTP client and the RPC
 * entrypoint (`EdgePaxos`). Types only: importing them pulls no runtime code.
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
  /** Apply at most once: a retry with the same key gets the first result (1-256 characters). */
  readonly idempotencyKey?: string;
}

export interface GetOptions {
  /** `linearizable` (default) reads through the leader; `stale` answers from the nearest replica, possibly behind. */
  readonly consistency?: Consistency;
}

export interface DeleteOptions {
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

/**
 * The data operations, as both the RPC entrypoint and the HTTP client offer
 * them. Later operations (transactions, leases, watches) are added here, so
 * every operation has the same shape on both.
 */
export interface DataApi {
  put(stream: string, key: string, value: string, opts?: PutOptions): Promise<PutResult>;
  /** The item, or null when the key is absent. */
  get(stream: string, key: string, opts?: GetOptions): Promise<KvItem | null>;
  delete(stream: string, key: string, opts?: DeleteOptions): Promise<DeleteResult>;
  list(stream: string, opts?: ListOptions): Promise<ListResult>;
  append(stream: string, data: string, opts?: AppendOptions): Promise<AppendResult>;
  read(stream: string, opts?: ReadOptions): Promise<ReadResult>;
  status(stream: string): Promise<StreamStatus>;
}
