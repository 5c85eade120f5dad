/**
 * What the harness (Node, bench/run.ts) and the bench Worker (workerd,
 * bench/worker.ts) say to each other over the bench-only routes. Plain data
 * only: this file is compiled on both sides.
 */

/**
 * What a load run writes to: the unreplicated Durable Object, an edgepaxos
 * stream, a keyspace, or the floor of a replicated write (FloorObject in worker.ts: an
 * upsert here and at `replicas - 1` peers over DO RPC, answered once a
 * majority has written).
 */
export type LoadTarget =
  | { readonly kind: 'baseline' }
  | { readonly kind: 'edgepaxos'; readonly stream: string }
  | { readonly kind: 'floor'; readonly replicas: number }
  /** A keyspace of EDGEPAXOS_CONFIG (HTTP only: the router is in the Worker). */
  | { readonly kind: 'keyspace'; readonly keyspace: string };

/**
 * `rpc`: Durable Object RPC from the Worker; `http`: a PUT through the Worker's own fetch handler;
 * `bare` (edgepaxos only): a PUT through the Worker's fetch handler to a bench route that makes only
 * the call to the leader the API makes for it (`StreamClient.write`), without the API's authentication,
 * validation, request metrics and error mapping (`npm run bench:cpu`: what that layer costs).
 */
export type LoadPath = 'rpc' | 'http' | 'bare';

/** `POST /bench/load`: a closed loop of `concurrency` writers inside workerd. */
export interface LoadRequest {
  readonly target: LoadTarget;
  readonly path: LoadPath;
  readonly concurrency: number;
  /** Writes before this much time has passed are not counted. */
  readonly warmupMs: number;
  /** The measured window after the warm-up. */
  readonly durationMs: number;
  readonly valueBytes: number;
  /**
   * Edgepaxos only: this long into the window, crash the follower the leader
   * counts on first (thrifty replication's nearest quorum; with full
   * replication, the lowest-id follower) and keep it down for `downMs`.
   */
  readonly crashFollower?: { readonly afterMs: number; readonly downMs: number };
}

/** `GET /bench/in-flight`: the writes (PUTs) the Worker saw arrive since the last read, and how many it was serving at once when each arrived (itself included). */
export interface InFlightResult {
  readonly arrivals: number;
  readonly mean: number;
  readonly max: number;
}

export interface LoadResult {
  /** Writes that completed inside the measured window. */
  readonly opsInWindow: number;
  /** Every write that succeeded during the run, warm-up included (for cost per command). */
  readonly opsTotal: number;
  readonly errors: number;
  readonly firstError: string | null;
  readonly windowMs: number;
  /**
   * Latency of every successful write started inside the window, in whole
   * milliseconds: workerd's clock has 1 ms resolution and only advances at I/O.
   */
  readonly latenciesMs: number[];
  /** With `crashFollower`: the follower crashed, or why none was. */
  readonly crashed?: { readonly replica: number } | { readonly failed: string };
}

/** Cost counters of one replica (ReplicaMetrics in src/host/clocked-host.ts). */
export interface ReplicaCounters {
  readonly rpcs_sent: number;
  readonly rpcs_received: number;
  readonly messages_sent: number;
  readonly storage_transactions: number;
  readonly wakeups: number;
  /** Late wake-ups forgiven (HostClock): each restarts the replica's failure detectors. */
  readonly late_wakeups?: number;
  /** Not a counter: the leader's current pipeline depth. */
  readonly flow_inflight_max?: number;
  /** Not a counter: a thrifty leader's nearest quorum (the followers its last batch went to first), else null. */
  readonly nearest_quorum?: readonly number[] | null;
}

/** `POST /bench/metrics`: every replica's counters, null for one that did not answer. */
export interface MetricsResult {
  readonly replicas: { readonly replicaId: number; readonly metrics: ReplicaCounters | null }[];
}

/** `POST /bench/leader`: the leader every replica agrees on, or null. */
export interface LeaderResult {
  readonly leaderId: number | null;
  /** Each replica's role and the leader it follows (null if it did not answer). */
  readonly views: { readonly replicaId: number; readonly role: string | null; readonly leaderId: number | null }[];
}

/** `POST /bench/failover`: crash the leader, then probe the survivors until one write is decided. */
export interface FailoverRequest {
  readonly stream: string;
  /** How long the crashed leader stays unreachable. */
  readonly downMs: number;
  /** Give up after this long. */
  readonly timeoutMs: number;
}

export type FailoverResult =
  | {
      readonly kind: 'ok';
      readonly crashed: number;
      readonly newLeader: number;
      readonly failoverMs: number;
      /** Late wake-ups each survivor forgave during the trial (Replica.resume), by replica id: one can add an election timeout. */
      readonly lateWakeups: Record<number, number>;
    }
  | { readonly kind: 'failed'; readonly message: string };

/** `POST /bench/slow-link`: delay every batch from replica `from` to `to` (and its replies) by `delayMs` each way; null heals. */
export interface SlowLinkRequest {
  readonly stream: string;
  readonly from: number;
  readonly to: number;
  readonly delayMs: number | null;
}

/**
 * `POST /bench/first-write`: one write as a client makes it (from the
 * stream's top-priority replica, following not-leader hints, until applied),
 * then a second one, each timed in workerd; with the term of the
 * top-priority replica before and of the replica that applied it after.
 */
export interface FirstWriteResult {
  readonly firstMs: number;
  readonly secondMs: number;
  readonly firstOutcome: string;
  readonly termBefore: number | null;
  readonly termAfter: number | null;
}
