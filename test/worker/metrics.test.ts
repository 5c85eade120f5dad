import { env, exports } from 'cloudflare:workers';
import { evictDurableObject } from 'cloudflare:test';
import { type PromHistogramData, type PromMetrics, getMetricsFromIterator } from 'prom2javascript';
import { describe, expect, it } from 'vitest';
import { admin, api, crash, eventually, put, stableLeader, status } from './helpers.ts';
import { TEST_TOKENS } from './test-config.ts';

const S = 'metrics';

/** GET /metrics, parsed by a Prometheus text parser (so the format itself is checked too). */
async function scrape(headers: Record<string, string> = admin): Promise<PromMetrics> {
  const res = await exports.default.fetch('https://edgepaxos.test/metrics', { headers });
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
  return getMetricsFromIterator((await res.text()).split('\n')[Symbol.iterator]());
}

/** The value of the sample of `name` whose labels include `labels` (undefined when there is none). */
function value(families: PromMetrics, name: string, labels: Record<string, string>): number | undefined {
  const samples = (families[name]?.data ?? []) as { labels: Record<string, string>; value?: number; count?: number }[];
  const m = samples.find((s) => Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  return m ? (m.value ?? m.count) : undefined;
}

const PUT_ROUTE = { method: 'PUT', route: '/v1/streams/{stream}/kv/{key}', status: '200' };

describe('metrics: GET /metrics', () => {
  it('metrics: the output parses as Prometheus text, and request, replica and stream values move with the load', async () => {
    const leader = await stableLeader(S);
    const before = await scrape();
    const requestsBefore = value(before, 'edgepaxos_http_requests_total', PUT_ROUTE) ?? 0;
    const decidedBefore = value(before, 'edgepaxos_stream_decided_index', { stream: S })!;
    const leaderLabels = { stream: S, replica: String(leader) };
    const sentBefore = value(before, 'edgepaxos_replica_rpcs_sent_total', leaderLabels)!;
    const writesBefore = value(before, 'edgepaxos_replica_storage_transactions_total', leaderLabels)!;
    const proposedBefore = value(before, 'edgepaxos_replica_proposals_total', leaderLabels)!;
    const inputsBefore = value(before, 'edgepaxos_replica_proposal_inputs_total', leaderLabels)!;
    for (let i = 0; i < 5; i++) await put(S, `m/${i}`, 'v');
    const after = await scrape();

    expect(value(after, 'edgepaxos_http_requests_total', PUT_ROUTE)).toBeGreaterThanOrEqual(requestsBefore + 5);
    const histogram = after.edgepaxos_http_request_duration_seconds!;
    expect(histogram.type).toBe('histogram');
    const puts = (histogram.data as PromHistogramData[]).find((m) => m.labels.route === PUT_ROUTE.route && m.labels.status === '200' && m.labels.method === 'PUT')!;
    expect(puts.count).toBe(value(after, 'edgepaxos_http_requests_total', PUT_ROUTE));
    const counts = Object.entries(puts.buckets).map(([le, n]) => [le === '+Inf' ? Infinity : Number(le), n] as const).sort((a, b) => a[0] - b[0]);
    expect(counts.map(([le]) => le)).toEqual([0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, Infinity]);
    for (let i = 1; i < counts.length; i++) expect(counts[i]![1]).toBeGreaterThanOrEqual(counts[i - 1]![1]); // cumulative
    expect(puts.buckets['+Inf']).toBe(puts.count);
    expect(puts.sum).toBeGreaterThan(0);

    expect(value(after, 'edgepaxos_stream_has_leader', { stream: S })).toBe(1);
    expect(value(after, 'edgepaxos_stream_decided_index', { stream: S })).toBeGreaterThanOrEqual(decidedBefore + 5);
    expect(value(after, 'edgepaxos_replica_is_leader', leaderLabels)).toBe(1);
    expect(value(after, 'edgepaxos_replica_info', { ...leaderLabels, region: 'wnam', role: 'leader' })).toBe(1);
    for (const replica of ['1', '2', '3']) {
      expect(value(after, 'edgepaxos_replica_up', { stream: S, replica })).toBe(1);
      expect(value(after, 'edgepaxos_replica_decided_index', { stream: S, replica })).toBeGreaterThanOrEqual(decidedBefore + 4); // a follower learns the last decision with the next message
    }
    expect(value(after, 'edgepaxos_replica_rpcs_sent_total', leaderLabels)).toBeGreaterThan(sentBefore);
    expect(value(after, 'edgepaxos_replica_storage_transactions_total', leaderLabels)).toBeGreaterThanOrEqual(writesBefore + 5);
    expect(value(after, 'edgepaxos_replica_proposals_total', leaderLabels)).toBe(proposedBefore + 5);
    // One after another, each write is proposed in an input of its own.
    expect(value(after, 'edgepaxos_replica_proposal_inputs_total', leaderLabels)).toBe(inputsBefore + 5);
    expect(value(after, 'edgepaxos_replica_proposals_failed_total', { ...leaderLabels, reason: 'overloaded' })).toBe(0);
    expect(value(after, 'edgepaxos_replica_elections_won_total', leaderLabels)).toBeGreaterThanOrEqual(1);
    expect(value(after, 'edgepaxos_replica_leader_changes_total', { stream: S, replica: '2' })).toBeGreaterThanOrEqual(1);
    expect(after.edgepaxos_replica_rpcs_sent_total!.type).toBe('counter');
    expect(after.edgepaxos_replica_lag_slots!.type).toBe('gauge');
  });

  it('metrics: writes sent together are proposed together (write gathering): fewer leader inputs than writes, each write applied once', async () => {
    const leader = await stableLeader(S);
    const leaderLabels = { stream: S, replica: String(leader) };
    const before = await scrape();
    const proposedBefore = value(before, 'edgepaxos_replica_proposals_total', leaderLabels)!;
    const inputsBefore = value(before, 'edgepaxos_replica_proposal_inputs_total', leaderLabels)!;
    const revisions = await Promise.all(Array.from({ length: 24 }, (_, i) => put(S, `gather/${i}`, `v${i}`)));
    expect(new Set(revisions).size).toBe(24);
    const after = await scrape();
    const proposals = value(after, 'edgepaxos_replica_proposals_total', leaderLabels)! - proposedBefore;
    const inputs = value(after, 'edgepaxos_replica_proposal_inputs_total', leaderLabels)! - inputsBefore;
    expect(proposals).toBe(24);
    expect(inputs).toBeGreaterThanOrEqual(1);
    expect(inputs).toBeLessThan(proposals);
    for (let i = 0; i < 24; i += 5) {
      expect(await api('GET', `/v1/streams/${S}/kv/${encodeURIComponent(`gather/${i}`)}`)).toEqual({ status: 200, body: { key: `gather/${i}`, value: `v${i}`, revision: revisions[i] } });
    }
  });

  it('metrics: counters survive idle evictions of the replicas and of the object that adds up the requests', async () => {
    await stableLeader(S);
    await put(S, 'm/evict', 'v');
    await eventually('every replica quiet', async () => (await status(S)).nodes.every((n: any) => n.quiescent === true));
    const before = await scrape();
    for (const id of [1, 2, 3]) await crash(S, id); // what workerd does to idle objects
    await evictDurableObject(env.REQUEST_METRICS.get(env.REQUEST_METRICS.idFromName('requests')));
    const after = await scrape();
    for (const name of ['edgepaxos_replica_rpcs_sent_total', 'edgepaxos_replica_rpcs_received_total', 'edgepaxos_replica_storage_transactions_total']) {
      let total = 0;
      for (const replica of ['1', '2', '3']) {
        const was = value(before, name, { stream: S, replica })!;
        total += was;
        expect(value(after, name, { stream: S, replica })).toBeGreaterThanOrEqual(was);
      }
      expect(total, name).toBeGreaterThan(0); // not a vacuous comparison of zeros
    }
    expect(value(after, 'edgepaxos_http_requests_total', PUT_ROUTE)).toBeGreaterThanOrEqual(value(before, 'edgepaxos_http_requests_total', PUT_ROUTE)!);
  });

  it('metrics: a read token sees only the streams it may read; without a token the scrape is refused', async () => {
    const families = await scrape({ authorization: `Bearer ${TEST_TOKENS.reader}` });
    const streams = new Set(Object.values(families).flatMap((f) => (f.data as { labels: Record<string, string> }[]).map((m) => m.labels.stream)).filter((s) => s !== undefined));
    expect([...streams].sort()).toEqual(['api', 'auth']);
    const anonymous = await exports.default.fetch('https://edgepaxos.test/metrics');
    expect(anonymous.status).toBe(401);
    expect(((await anonymous.json()) as any).error.code).toBe('unauthorized');
  });
});
