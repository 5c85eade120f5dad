import { describePolicy } from '../host/config.ts';
import type { ReplicaView } from '../host/replica-object.ts';
import type { StreamClient } from './stream-client.ts';

/** One node in the status page: its configuration and, if it answered, its own view. */
export interface NodeStatus {
  readonly node_id: number;
  readonly region: string;
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
  /** Answered, and follows (or is) the leader the stream reports. */
  readonly healthy: boolean;
  readonly quiescent: boolean | null;
  readonly partitioned_from: readonly number[];
}

/** DCF-style status of a stream, assembled from every replica that answers within a second. */
export async function streamStatus(client: StreamClient) {
  const stream = client.stream;
  const views = await client.views(1000);
  let leader: ReplicaView | null = null;
  for (const v of views) {
    if (v?.role !== 'leader') continue;
    if (!leader || v.term > leader.term || (v.term === leader.term && v.node_id > leader.node_id)) leader = v;
  }
  const answered = views.filter((v): v is ReplicaView => v !== null);
  const nodes: NodeStatus[] = stream.replicas.map((r, i) => {
    const v = views[i] ?? null;
    const healthy = v !== null && leader !== null && (v.node_id === leader.node_id || v.leader_id === leader.node_id);
    return {
      node_id: r.id,
      region: r.region,
      role: v ? v.role : 'unreachable',
      priority: r.priority,
      weight: r.weight,
      group: r.group,
      applied_index: v?.applied_index ?? null,
      commit_index: v?.commit_index ?? null,
      first_index: v?.first_index ?? null,
      last_index: v?.last_index ?? null,
      term: v?.term ?? null,
      leader_id: v?.leader_id ?? null,
      healthy,
      quiescent: v?.quiescent ?? null,
      partitioned_from: v?.partitioned_from ?? [],
    };
  });
  return {
    stream: stream.name,
    leader_id: leader?.node_id ?? null,
    term: leader?.term ?? Math.max(0, ...answered.map((v) => v.term)),
    run_mode: runMode(answered),
    work_mode: 'normal',
    hb_interval_ms: stream.heartbeat_interval_ms,
    elc_timeout_ms: stream.election_timeout_ms,
    commit_index: leader?.commit_index ?? Math.max(0, ...answered.map((v) => v.commit_index)),
    cluster_min_apply_idx: minApplied(answered),
    policy: describePolicy(stream),
    priority_election: stream.priority_election,
    /** Why the leader cannot decide right now (a policy's required group or region is unreachable), or null. */
    writes_blocked: leader ? leader.writes_blocked : 'no leader',
    transferring_to: leader?.transferring_to ?? null,
    nodes,
  };
}

/** The lowest applied index among replicas that keep data (loggers apply nothing). */
function minApplied(views: readonly ReplicaView[]): number | null {
  const applied = views.map((v) => v.applied_index).filter((x): x is number => x !== null);
  return applied.length > 0 ? Math.min(...applied) : null;
}

/** automatic or manual when every replica that answered agrees; mixed while a change has not reached them all. */
function runMode(views: readonly ReplicaView[]): string {
  const modes = new Set(views.map((v) => v.run_mode));
  return modes.size === 1 ? [...modes][0]! : modes.size === 0 ? 'unknown' : 'mixed';
}
