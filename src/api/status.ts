import { describeConfigurationPolicy } from '../host/config.ts';
import type { ReplicaView } from '../host/replica-object.ts';
import { pickLeader, viewOf } from './operations-service.ts';
import type { StreamClient } from './stream-client.ts';

/** One node in the status page: its configuration and, if it answered, its own view. */
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
  /** Slots behind the leader's decided index: what it applied (decided, for a logger); null without a leader or an answer. */
  readonly lag: number | null;
  /** Answered, and follows (or is) the leader the stream reports. */
  readonly healthy: boolean;
  readonly quiescent: boolean | null;
  readonly partitioned_from: readonly number[];
  /** Its latest role change and why, as the replica reports it (null: none, or it did not answer). */
  readonly last_transition: string | null;
  /** The latest thing it declined to do and why (null: nothing, or it did not answer). */
  readonly last_refusal: string | null;
}

/**
 * DCF-style status of a stream, assembled from every replica that answers
 * within a second. The nodes are the members of the newest configuration any
 * replica reports (membership changes live in the log, not in EDGEPAXOS_CONFIG).
 */
export async function streamStatus(client: StreamClient) {
  const stream = client.stream;
  const views = await client.views(1000);
  const leaderId = pickLeader(views);
  const leader = leaderId === null ? null : viewOf(views, leaderId);
  const answered = views.map((v) => v.view).filter((v): v is ReplicaView => v !== null);
  const { index, configuration } = client.configuration();
  const nodes: NodeStatus[] = configuration.members.map((m) => {
    const v = viewOf(views, m.id);
    const healthy = v !== null && leader !== null && (v.node_id === leader.node_id || v.leader_id === leader.node_id);
    return {
      node_id: m.id,
      region: m.region ?? null,
      role: v ? v.role : 'unreachable',
      priority: m.priority,
      weight: m.weight,
      group: m.group,
      applied_index: v?.applied_index ?? null,
      commit_index: v?.commit_index ?? null,
      first_index: v?.first_index ?? null,
      last_index: v?.last_index ?? null,
      term: v?.term ?? null,
      leader_id: v?.leader_id ?? null,
      lag: v && leader ? lagBehind(leader, v) : null,
      healthy,
      quiescent: v?.quiescent ?? null,
      partitioned_from: v?.partitioned_from ?? [],
      last_transition: v?.last_transition ?? null,
      last_refusal: v?.last_refusal ?? null,
    };
  });
  return {
    stream: stream.name,
    leader_id: leader?.node_id ?? null,
    term: leader?.term ?? Math.max(0, ...answered.map((v) => v.term)),
    run_mode: runMode(answered),
    /** normal, or MINORITY while survivors of a lost majority decide alone (vote_num of minority_replicas). */
    work_mode: workMode(answered),
    vote_num: leader?.vote_num ?? null,
    minority_replicas: leader?.minority_replicas ?? null,
    epoch: Math.max(0, ...answered.map((v) => v.epoch)),
    hb_interval_ms: stream.heartbeat_interval_ms,
    elc_timeout_ms: stream.election_timeout_ms,
    commit_index: leader?.commit_index ?? Math.max(0, ...answered.map((v) => v.commit_index)),
    cluster_min_apply_idx: minApplied(answered.filter((v) => configuration.members.some((m) => m.id === v.node_id))),
    policy: describeConfigurationPolicy(configuration),
    /** The log slot of the membership change in effect (0: the bootstrap configuration). */
    configuration_index: index,
    /** A membership change proposed and not yet decided, if the leader reports one. */
    configuration_change_pending: (leader?.pending_configuration ?? null) !== null,
    priority_election: stream.priority_election,
    /** Why the leader cannot decide right now (a policy's required group or region is unreachable), or null. */
    writes_blocked: leader ? writesBlocked(leader) : 'no leader',
    transferring_to: leader?.transferring_to ?? null,
    nodes,
  };
}

/**
 * Why a leader cannot decide, or null. A quiet leader hears from nobody by
 * design (no heartbeats while idle), so the core's reckoning of whom it heard
 * from lately says nothing about its quorum: not blocked as far as anyone knows
 * (the next request wakes it, and its status then says).
 */
export function writesBlocked(leader: ReplicaView): string | null {
  return leader.quiescent ? null : leader.writes_blocked;
}

/** How many slots `v` trails the leader's decided index by (a logger applies nothing: its decided index counts). */
export function lagBehind(leader: ReplicaView, v: ReplicaView): number {
  return Math.max(0, leader.commit_index - (v.applied_index ?? v.commit_index));
}

/** The lowest applied index among replicas that keep data (loggers apply nothing). */
function minApplied(views: readonly ReplicaView[]): number | null {
  const applied = views.map((v) => v.applied_index).filter((x): x is number => x !== null);
  return applied.length > 0 ? Math.min(...applied) : null;
}

/** `normal`; `MINORITY` (loud on purpose) while any replica that answered runs in minority mode. */
function workMode(views: readonly ReplicaView[]): string {
  return views.some((v) => v.work_mode === 'minority') ? 'MINORITY' : 'normal';
}

/** automatic or manual when every replica that answered agrees; mixed while a change has not reached them all. */
function runMode(views: readonly ReplicaView[]): string {
  const modes = new Set(views.map((v) => v.run_mode));
  return modes.size === 1 ? [...modes][0]! : modes.size === 0 ? 'unknown' : 'mixed';
}
