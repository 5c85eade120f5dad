import { createRoute, z } from '@hono/zod-openapi';
import { isRpcError } from '../../host/replica-object.ts';
import { type VisibleStream, visibleStreams } from '../catalog.ts';
import type { Principal } from '../grants.ts';
import { pickLeader, viewOf } from '../operations-service.ts';
import { type App, authenticate, group, register } from '../route.ts';
import { errors } from '../schemas.ts';
import { lagBehind } from '../status.ts';
import { CONTENT_TYPE, type Family, family, render, sample } from './exposition.ts';
import { LATENCY_BUCKETS_S, flushRequests, requestTotals } from './requests.ts';

/** How long a scrape waits for each replica. */
const SCRAPE_TIMEOUT_MS = 1000;

const metricsRoute = createRoute({
  method: 'get',
  path: '/metrics',
  tags: ['operations'],
  summary: 'Prometheus metrics: every stream and replica the caller may read, and the Worker\'s requests',
  description: 'The text exposition format (0.0.4). docs/operations.md lists every metric.',
  middleware: [authenticate],
  request: {},
  responses: {
    200: { description: 'Metrics in the Prometheus text format', content: { 'text/plain': { schema: z.string() } } },
    ...errors({ 503: ['catalog_unavailable'] }),
  },
});

export function metricsRoutes(): App {
  const app = group();
  register(app, metricsRoute, async (c) => c.body(await metricsText(c.env, c.var.principal), 200, { 'content-type': CONTENT_TYPE }));
  return app;
}

/**
 * Every metric, as Prometheus text: the streams `principal` may read (asked
 * of their replicas now), and the requests every Worker isolate counted (this
 * isolate's flushed first). Anonymous callers need a public data plane.
 */
export async function metricsText(env: Cloudflare.Env, principal: Principal): Promise<string> {
  const { streams } = await visibleStreams(env, principal);
  await flushRequests(env);
  const [replicaFamilies, requests] = await Promise.all([streamFamilies(streams), requestTotals(env)]);
  return render([...replicaFamilies, ...requestFamilies(requests)]);
}

async function streamFamilies(streams: readonly VisibleStream[]): Promise<Family[]> {
  const f = {
    hasLeader: family('edgepaxos_stream_has_leader', 'gauge', '1 while a replica leads the stream, else 0'),
    streamTerm: family('edgepaxos_stream_term', 'gauge', "The leader's ballot round (the highest any replica reports without one)"),
    streamDecided: family('edgepaxos_stream_decided_index', 'gauge', "The leader's decided index"),
    up: family('edgepaxos_replica_up', 'gauge', '1 if the replica answered this scrape, else 0'),
    info: family('edgepaxos_replica_info', 'gauge', "Always 1: the replica's region and role as labels"),
    isLeader: family('edgepaxos_replica_is_leader', 'gauge', '1 if the replica leads'),
    term: family('edgepaxos_replica_term', 'gauge', 'The ballot round the replica knows'),
    decided: family('edgepaxos_replica_decided_index', 'gauge', 'The highest slot the replica knows to be decided'),
    applied: family('edgepaxos_replica_applied_index', 'gauge', 'The highest slot its state machine applied (loggers have none)'),
    lag: family('edgepaxos_replica_lag_slots', 'gauge', "Slots the replica trails the leader's decided index by"),
    quiet: family('edgepaxos_replica_quiet', 'gauge', '1 while the replica is idle (no timers until the next request or message)'),
    queue: family('edgepaxos_replica_queue_depth', 'gauge', 'Writes and linearizable reads waiting at the replica for their outcome'),
    proposals: family('edgepaxos_replica_proposals_total', 'counter', 'Client commands proposed at the replica as leader'),
    proposalInputs: family('edgepaxos_replica_proposal_inputs_total', 'counter', 'Inputs that proposed client commands: one per write, or one per group of writes gathered together (proposals_total ÷ this: writes per input)'),
    proposalsFailed: family('edgepaxos_replica_proposals_failed_total', 'counter', 'Client commands refused (not_leader, overloaded) or proposed without a known outcome (dropped: leadership lost; outcome_unknown: deadline passed)'),
    leaderChanges: family('edgepaxos_replica_leader_changes_total', 'counter', 'New leaders the replica followed or became (as etcd_server_leader_changes_seen_total)'),
    electionsWon: family('edgepaxos_replica_elections_won_total', 'counter', 'Elections the replica won'),
    rpcsSent: family('edgepaxos_replica_rpcs_sent_total', 'counter', 'RPCs sent to peers (one per batch of messages)'),
    rpcsReceived: family('edgepaxos_replica_rpcs_received_total', 'counter', 'RPCs received from peers'),
    messagesSent: family('edgepaxos_replica_messages_sent_total', 'counter', 'Paxos messages sent to peers'),
    transactions: family('edgepaxos_replica_storage_transactions_total', 'counter', 'Storage transactions (one per Ready with something to persist)'),
    wakeups: family('edgepaxos_replica_wakeups_total', 'counter', 'Alarm wake-ups'),
    lateWakeups: family('edgepaxos_replica_late_wakeups_total', 'counter', 'Wake-ups that came long after they were due (forgiven)'),
  };
  await Promise.all(
    streams.map(async (s) => {
      const client = s.client;
      if (!client) return; // being deleted: its replicas are wiped or about to be
      const [views, counters] = await Promise.all([
        client.views(SCRAPE_TIMEOUT_MS).catch(() => null),
        Promise.all(client.knownIds().map(async (id) => ({ id, res: await client.stub(id).metrics(client.identity(id)).catch(() => null) }))),
      ]);
      if (!views) return; // deleted meanwhile
      const leaderId = pickLeader(views);
      const leader = leaderId === null ? null : viewOf(views, leaderId);
      const stream = s.name;
      sample(f.hasLeader, { stream }, leader ? 1 : 0);
      sample(f.streamTerm, { stream }, leader?.term ?? Math.max(0, ...views.map((v) => v.view?.term ?? 0)));
      if (leader) sample(f.streamDecided, { stream }, leader.commit_index);
      for (const m of client.members()) {
        const v = viewOf(views, m.id);
        const l = { stream, replica: m.id, region: m.region ?? '' };
        sample(f.up, l, v ? 1 : 0);
        if (!v) continue;
        sample(f.info, { ...l, role: v.role }, 1);
        sample(f.isLeader, l, v.node_id === leaderId ? 1 : 0);
        sample(f.term, l, v.term);
        sample(f.decided, l, v.commit_index);
        if (v.applied_index !== null) sample(f.applied, l, v.applied_index);
        if (leader) sample(f.lag, l, lagBehind(leader, v));
        sample(f.quiet, l, v.quiescent ? 1 : 0);
        sample(f.queue, l, v.pending_requests);
        const c = counters.find((x) => x.id === m.id)?.res;
        if (!c || isRpcError(c)) continue;
        const k = c.metrics;
        sample(f.proposals, l, k.proposals);
        sample(f.proposalInputs, l, k.proposal_inputs);
        sample(f.proposalsFailed, { ...l, reason: 'not_leader' }, k.proposals_failed_not_leader);
        sample(f.proposalsFailed, { ...l, reason: 'overloaded' }, k.proposals_failed_overloaded);
        sample(f.proposalsFailed, { ...l, reason: 'dropped' }, k.proposals_failed_dropped);
        sample(f.proposalsFailed, { ...l, reason: 'outcome_unknown' }, k.proposals_failed_outcome_unknown);
        sample(f.leaderChanges, l, k.leader_changes);
        sample(f.electionsWon, l, k.elections_won);
        sample(f.rpcsSent, l, k.rpcs_sent);
        sample(f.rpcsReceived, l, k.rpcs_received);
        sample(f.messagesSent, l, k.messages_sent);
        sample(f.transactions, l, k.storage_transactions);
        sample(f.wakeups, l, k.wakeups);
        sample(f.lateWakeups, l, k.late_wakeups);
      }
    }),
  );
  return Object.values(f);
}

function requestFamilies(series: Awaited<ReturnType<typeof requestTotals>>): Family[] {
  const total = family('edgepaxos_http_requests_total', 'counter', 'HTTP requests answered by the Worker, by method, route and status');
  const duration = family('edgepaxos_http_request_duration_seconds', 'histogram', 'Time to answer an HTTP request (to its headers), by method, route and status');
  for (const s of series) {
    const l = { method: s.method, route: s.route, status: s.status };
    sample(total, l, s.count);
    LATENCY_BUCKETS_S.forEach((le, i) => sample(duration, { ...l, le: String(le) }, s.buckets[i] ?? 0, '_bucket'));
    sample(duration, { ...l, le: '+Inf' }, s.count, '_bucket');
    sample(duration, l, s.sumSeconds, '_sum');
    sample(duration, l, s.count, '_count');
  }
  return [total, duration];
}


