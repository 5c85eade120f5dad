import { type OperatorResult, type ReplicaId, checkQuorumOverride } from '../core/index.ts';
import type { ReplicaView } from '../host/replica-object.ts';
import { isRpcError } from '../host/replica-object.ts';
import { timingWindows } from '../host/timing-windows.ts';
import type {
  ChaosAction,
  ChaosResult,
  HealthResult,
  LeaderCheckResult,
  LeadershipResult,
  ReplicaCheckResult,
  RunMode,
  RunModeResult,
  TruncationResult,
  WorkModeRequest,
  WorkModeResult,
} from '../client/types.ts';
import { ApiError } from './errors.ts';
import { authorize } from './grants.ts';
import type { Target } from './service.ts';
import { lagBehind, writesBlocked } from './status.ts';
import type { StreamClient } from './stream-client.ts';

/**
 * The operator controls of one stream (DCF promote_leader, RUN_MODE,
 * minority force-start; Patroni switchover and health checks), one code path
 * behind the HTTP routes (operations.ts) and the RPC methods of the
 * EdgePaxosAdmin entrypoint (admin-rpc.ts). Each takes a stream opened for a
 * caller and checks that caller's right itself (admin for a control, read
 * for a health check), so no entry point can reach one without it. Inputs
 * arrive validated (ranges and defaults: HANDOVER_TIMEOUT_MS); errors are
 * ApiErrors.
 */

/** How long a switchover or step-down waits for the hand-over, in milliseconds. */
export const HANDOVER_TIMEOUT_MS = { min: 100, max: 60_000, default: 10_000 } as const;

/**
 * Hand leadership to `targetId` (Patroni switchover); answers once it leads, or 504 switchover_timeout.
 * Attempts are repeated until `timeoutMs` is spent (handOver).
 */
export async function switchover(t: Target, targetId: number, timeoutMs: number = HANDOVER_TIMEOUT_MS.default): Promise<LeadershipResult> {
  const client = admin(t);
  const started = Date.now();
  const first = await currentLeader(client);
  if (first === targetId) return { leader_id: first, changed: false, took_ms: 0 };
  const now = await handOver(client, targetId, first, started + timeoutMs);
  if (now !== targetId) {
    throw new ApiError(504, 'switchover_timeout', `replica ${targetId} did not take over within ${timeoutMs} ms; the leader is ${now ?? 'unknown'} and writes have resumed`);
  }
  return { leader_id: now, changed: true, took_ms: Date.now() - started };
}

/**
 * The leader hands over to the best other replica. The leader chooses the target in the first attempt;
 * if that replica's campaign fails, the hand-over to the same target is repeated as a switchover's is.
 */
export async function stepDown(t: Target, timeoutMs: number = HANDOVER_TIMEOUT_MS.default): Promise<LeadershipResult> {
  const client = admin(t);
  const started = Date.now();
  const deadline = started + timeoutMs;
  const leader = await currentLeader(client);
  const attemptEnds = Math.min(deadline, started + handOverAttemptMs(client));
  const res = await operate(client, leader, { kind: 'step-down', timeoutMs: Math.max(1, attemptEnds - Date.now()) });
  let now = await waitForLeader(client, (id) => id === res.target, attemptEnds);
  if (now !== res.target && Date.now() < deadline) now = await handOver(client, res.target, now, deadline, 1);
  if (now !== res.target) {
    throw new ApiError(504, 'switchover_timeout', `replica ${res.target} did not take over within ${timeoutMs} ms; the leader is ${now ?? 'unknown'}`);
  }
  return { leader_id: now, previous_leader_id: leader, took_ms: Date.now() - started };
}

/**
 * Repeat hand-over attempts to `targetId` until it leads or `deadline` passes; answers who leads at the end.
 * One attempt lasts a few election timeouts: the target is told to campaign once per attempt, and a
 * campaign can fail (its first round outvoted, its timer held back on a loaded host, the target down),
 * after which the old leader resumes. So the attempt is repeated, each time from whoever leads then. A
 * repeat restarts the core's hand-over (transfer.ts).
 */
async function handOver(client: StreamClient, targetId: ReplicaId, leader: ReplicaId | null, deadline: number, firstAttempt = 0): Promise<ReplicaId | null> {
  let now = leader;
  for (let attempt = firstAttempt; attempt === firstAttempt || Date.now() < deadline; attempt++) {
    const attemptEnds = Math.min(deadline, Date.now() + handOverAttemptMs(client));
    if (now !== null) {
      try {
        await operate(client, now, { kind: 'switchover', target: targetId, timeoutMs: Math.max(1, attemptEnds - Date.now()) });
      } catch (e) {
        // A refusal of the first attempt is the answer (a bad target, no leader); a repeat that meets an
        // election under way (not the leader any more, no answer) just waits for the next attempt.
        if (attempt === 0 || !(e instanceof ApiError) || (e.status !== 409 && e.status !== 503)) throw e;
      }
    }
    now = await waitForLeader(client, (id) => id === targetId, attemptEnds);
    if (now === targetId) return now;
  }
  return now;
}

/** One hand-over attempt: time for the target to catch up and win a campaign, with room for a slow host. */
function handOverAttemptMs(client: StreamClient): number {
  return 4 * client.stream.election_timeout_ms;
}

/** Replica `id` campaigns now, without a pre-vote (a promote; Patroni failover); `elected` says whether it won. */
export async function campaign(t: Target, replicaId: number): Promise<LeadershipResult> {
  const client = admin(t);
  const id = replicaIdOf(client, replicaId);
  const started = Date.now();
  await operate(client, id, { kind: 'campaign' });
  const deadline = started + timingWindows(client.stream).promotionWaitMs;
  const now = await waitForLeader(client, (l) => l === id, deadline);
  return { leader_id: now, elected: now === id, took_ms: Date.now() - started };
}

/** Automatic or manual elections on every member; `not_reached` names those that did not take it. */
export async function setRunMode(t: Target, mode: RunMode): Promise<RunModeResult> {
  const client = admin(t);
  const automatic = mode === 'automatic';
  const notReached: ReplicaId[] = [];
  await Promise.all(
    client.members().map(async (r) => {
      const res = await client
        .stub(r.id)
        .operate(client.identity(r.id), { kind: 'run-mode', automatic })
        .catch(() => null);
      if (!res || isRpcError(res)) notReached.push(r.id);
    }),
  );
  // A replica that did not hear it keeps its old mode: say so, so the operator can repeat the call.
  return { run_mode: mode, not_reached: notReached.sort((a, b) => a - b) };
}

/**
 * Minority force-start (the survivors decide with `voteNum` of them, in a new
 * epoch), or back to normal. Refused while a leader can decide (409
 * quorum_available) and, back to normal, while fenced voters would count.
 */
export async function setWorkMode(t: Target, request: WorkModeRequest): Promise<WorkModeResult> {
  const client = admin(t);
  const views = await client.views(1000);
  if (request.mode === 'normal') {
    // A fenced voter would count in the configured quorums with a history forked off: rebuild or remove it first.
    const voters = new Set(client.members().filter((m) => m.role !== 'passive').map((m) => m.id));
    const fenced = views.filter((v) => v.view?.fenced && voters.has(v.id)).map((v) => v.id);
    if (fenced.length > 0) {
      throw new ApiError(409, 'fenced_voters', `replicas ${fenced.join(', ')} are fenced voters: rebuild them (POST .../replicas/{id}/rebuild) or remove them first`);
    }
    const notReached = await operateAll(client, client.members().map((m) => m.id), { kind: 'work-mode', override: null });
    return { work_mode: 'normal', not_reached: notReached };
  }
  const survivors = [...new Set(request.replicas)].sort((a, b) => a - b);
  const voters = client.members().filter((m) => m.role !== 'passive').map((m) => m.id);
  const strangers = survivors.filter((id) => !voters.includes(id));
  if (strangers.length > 0) throw new ApiError(400, 'invalid_request', `replicas ${strangers.join(', ')} are not voting members of stream '${client.stream.name}'`);
  if (request.voteNum > survivors.length) throw new ApiError(400, 'invalid_request', `vote_num ${request.voteNum} is more than the ${survivors.length} replicas named`);
  try {
    checkQuorumOverride({ voters: survivors, voteNum: request.voteNum });
  } catch (e) {
    if (e instanceof RangeError) throw new ApiError(422, 'invalid_change', e.message.replace(/^work mode: /, ''));
    throw e;
  }
  const leaderId = pickLeader(views);
  const leader = leaderId === null ? null : viewOf(views, leaderId);
  if (leader && writesBlocked(leader) === null && leader.work_mode === 'normal') {
    const quiet = leader.quiescent ? ' (it is quiet: idle, and wakes with the next request; if its quorum is really gone, its status says so once woken)' : '';
    throw new ApiError(409, 'quorum_available', `replica ${leaderId} leads and its writes are not blocked${quiet}: minority mode is only for a majority lost for good`);
  }
  // A new epoch: replicas still in the old one are fenced when they next hear from a survivor.
  const epoch = Math.max(0, ...views.map((v) => v.view?.epoch ?? 0)) + 1;
  const notReached = await operateAll(client, survivors, { kind: 'work-mode', override: { voters: survivors, voteNum: request.voteNum }, epoch });
  return { work_mode: 'minority', replicas: survivors, vote_num: request.voteNum, epoch, not_reached: notReached };
}

/** Every member snapshots its state machine and truncates its log now; each one's new first index. */
export async function truncate(t: Target): Promise<TruncationResult> {
  const client = admin(t);
  const notReached: ReplicaId[] = [];
  await Promise.all(
    client.members().map(async (r) => {
      const res = await client
        .stub(r.id)
        .operate(client.identity(r.id), { kind: 'snapshot' })
        .catch(() => null);
      if (!res || isRpcError(res)) notReached.push(r.id);
    }),
  );
  const views = await client.views(1000);
  const member = new Set(client.members().map((m) => m.id));
  return {
    first_index: Object.fromEntries(views.filter((v) => member.has(v.id)).map((v) => [v.id, v.view?.first_index ?? null])),
    not_reached: notReached.sort((a, b) => a - b),
  };
}

// ---------------------------------------------------------------- health checks (a read grant)

/** The replica answers (or 503 unavailable). */
export async function health(t: Target, replicaId: number): Promise<HealthResult> {
  const client = reader(t);
  const id = replicaIdOf(client, replicaId);
  const view = viewOf(await client.views(1000), id);
  if (!view) throw new ApiError(503, 'unavailable', `replica ${id} does not answer`);
  return { node_id: id, alive: true, role: view.role, leader_id: view.leader_id, applied_index: view.applied_index };
}

/** The replica leads (or 503 not_leader). */
export async function leaderCheck(t: Target, replicaId: number): Promise<LeaderCheckResult> {
  const client = reader(t);
  const id = replicaIdOf(client, replicaId);
  const view = viewOf(await client.views(1000), id);
  if (view?.role !== 'leader') throw new ApiError(503, 'not_leader', `replica ${id} is not the leader (${view ? view.role : 'unreachable'})`);
  return { node_id: id, leader: true, term: view.term };
}

/** The replica is a healthy follower, at most `lag` slots behind the leader when given (or 503). */
export async function replicaCheck(t: Target, replicaId: number, lag?: number): Promise<ReplicaCheckResult> {
  const client = reader(t);
  const id = replicaIdOf(client, replicaId);
  const views = await client.views(1000);
  const view = viewOf(views, id);
  const leaderId = pickLeader(views);
  const leader = leaderId === null ? null : viewOf(views, leaderId);
  if (!view || view.role === 'leader' || view.applied_index === null || view.leader_id === null) {
    const why = !view ? 'does not answer' : view.role === 'leader' ? 'is the leader' : view.applied_index === null ? 'is a logger (no data)' : 'follows no leader';
    throw new ApiError(503, 'not_a_healthy_replica', `replica ${id} ${why}`);
  }
  const behind = leader ? lagBehind(leader, view) : null;
  if (lag !== undefined && (behind === null || behind > lag)) {
    throw new ApiError(503, 'lagging', `replica ${id} is ${behind ?? 'an unknown number of'} slots behind the leader; at most ${lag} allowed`);
  }
  return { node_id: id, replica: true, role: view.role, lag: behind };
}

// ---------------------------------------------------------------- fault injection

/**
 * Crash, partition or disturb replicas: only where the Worker runs with
 * EDGEPAXOS_CHAOS=on (`npm run dev:chaos`, the tests), whoever asks; refused
 * everywhere else (403 chaos_disabled), an admin binding included.
 */
export async function chaos(t: Target, action: ChaosAction): Promise<ChaosResult> {
  const client = admin(t);
  if (t.env.EDGEPAXOS_CHAOS !== 'on') {
    throw new ApiError(403, 'chaos_disabled', 'fault injection is off; start the dev cluster with `npm run dev:chaos` (var EDGEPAXOS_CHAOS=on)');
  }
  const ids = client.stream.replicas.map((r) => r.id);
  switch (action.action) {
    case 'crash': {
      if (!ids.includes(action.replica)) throw new ApiError(400, 'invalid_request', `stream '${client.stream.name}' has no replica ${action.replica}`);
      const downMs = action.down_ms ?? 0;
      await client
        .stub(action.replica)
        .crash(client.identity(action.replica), downMs)
        .catch(() => undefined);
      return { crashed: action.replica, down_ms: downMs };
    }
    case 'partition': {
      const seen = new Set<number>();
      for (const id of action.groups.flat()) {
        if (!ids.includes(id)) throw new ApiError(400, 'invalid_request', `stream '${client.stream.name}' has no replica ${id}`);
        if (seen.has(id)) throw new ApiError(400, 'invalid_request', `replica ${id} is in more than one group`);
        seen.add(id);
      }
      const groups = action.groups.map((g) => [...g]);
      await Promise.all(ids.map((id) => client.stub(id).partition(client.identity(id), groups).catch(() => undefined)));
      return { partitioned: groups };
    }
    case 'unreliable': {
      const u = { duplicateRate: action.duplicate_rate ?? 0.2, delayMsMax: action.delay_ms_max ?? 50 };
      await Promise.all(ids.map((id) => client.stub(id).unreliable(client.identity(id), u).catch(() => undefined)));
      return { unreliable: { duplicate_rate: u.duplicateRate, delay_ms_max: u.delayMsMax } };
    }
    case 'heal':
      await Promise.all(
        ids.map(async (id) => {
          await client.stub(id).partition(client.identity(id), null).catch(() => undefined);
          await client.stub(id).unreliable(client.identity(id), null).catch(() => undefined);
        }),
      );
      return { healed: true };
  }
}

// ---------------------------------------------------------------- shared by the operator services

/** The stream's client, once the caller is known to hold an admin right on it. */
function admin(t: Target): StreamClient {
  authorize(t.principal, { stream: t.client.stream.name, access: 'admin' });
  return t.client;
}

function reader(t: Target): StreamClient {
  authorize(t.principal, { stream: t.client.stream.name, access: 'read' });
  return t.client;
}

/** Carry out `action` on each replica; returns those that did not take it. */
async function operateAll(client: StreamClient, ids: readonly ReplicaId[], action: Parameters<ReturnType<StreamClient['stub']>['operate']>[1]): Promise<ReplicaId[]> {
  const notReached: ReplicaId[] = [];
  await Promise.all(
    ids.map(async (id) => {
      const res = await client
        .stub(id)
        .operate(client.identity(id), action)
        .catch(() => null);
      if (!res || isRpcError(res) || !res.ok) notReached.push(id);
    }),
  );
  return notReached.sort((a, b) => a - b);
}

/** The replica the stream's replicas agree leads, or 503. */
async function currentLeader(client: StreamClient): Promise<ReplicaId> {
  const leader = pickLeader(await client.views(1000));
  if (leader === null) throw new ApiError(503, 'unavailable', 'the stream has no leader right now; try again after the election');
  return leader;
}

/** Views as `StreamClient.views` returns them. */
export type Views = readonly { readonly id: ReplicaId; readonly view: ReplicaView | null }[];

/** The replica leading with the highest ballot among those that answered. */
export function pickLeader(views: Views): ReplicaId | null {
  let best: ReplicaView | null = null;
  for (const { view: v } of views) if (v?.role === 'leader' && (!best || v.term > best.term || (v.term === best.term && v.node_id > best.node_id))) best = v;
  return best?.node_id ?? null;
}

export function viewOf(views: Views, id: ReplicaId): ReplicaView | null {
  return views.find((v) => v.id === id)?.view ?? null;
}

async function operate(client: StreamClient, at: ReplicaId, action: Parameters<ReturnType<StreamClient['stub']>['operate']>[1]): Promise<Extract<OperatorResult, { ok: true }>> {
  const res = await client
    .stub(at)
    .operate(client.identity(at), action)
    .catch(() => null);
  if (!res) throw new ApiError(503, 'unavailable', `replica ${at} did not answer`);
  if (isRpcError(res)) throw res.code === 'stream_deleted' ? client.failure(res) : new ApiError(503, res.code, res.message);
  if (!res.ok) {
    const status = res.code === 'not-leader' ? 409 : res.code === 'no-target' ? 409 : 400;
    throw new ApiError(status, res.code.replace('-', '_'), res.message);
  }
  return res;
}

/** Poll the replicas until `want(leader)` holds or the deadline passes; returns the last leader seen. */
async function waitForLeader(client: StreamClient, want: (leader: ReplicaId | null) => boolean, deadline: number): Promise<ReplicaId | null> {
  let leader: ReplicaId | null = null;
  for (;;) {
    leader = pickLeader(await client.views(1000));
    if (want(leader) || Date.now() >= deadline) return leader;
    await new Promise((resolve) => setTimeout(resolve, client.stream.heartbeat_interval_ms));
  }
}

export function replicaIdOf(client: StreamClient, id: number): ReplicaId {
  if (!client.knownIds().includes(id)) {
    throw new ApiError(404, 'replica_not_found', `stream '${client.stream.name}' has no replica '${id}'`);
  }
  return id;
}
