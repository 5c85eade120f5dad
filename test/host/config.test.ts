import { describe, expect, it } from 'vitest';
import { describePolicy, parseClusterConfig, streamQuorum } from '../../src/host/config.ts';

const replicas = [
  { id: 1, region: 'wnam', priority: 3 },
  { id: 2, region: 'weur', priority: 2 },
  { id: 3, region: 'apac', priority: 1 },
];

function refused(stream: Record<string, unknown>): string {
  try {
    parseClusterConfig({ streams: [{ name: 's', replicas, ...stream }] });
  } catch (e) {
    return (e as Error).message;
  }
  throw new Error('the configuration was accepted');
}

describe('config: cluster configuration', () => {
  it('accepts the embedded default shape, as a table or as a JSON string, and fills the defaults', () => {
    const asTable = parseClusterConfig({ streams: [{ name: 'default', replicas }] });
    const asJson = parseClusterConfig(JSON.stringify({ streams: [{ name: 'default', replicas }] }));
    expect(asJson).toEqual(asTable);
    const s = asTable.streams[0]!;
    expect(s).toMatchObject({ tick_ms: 50, heartbeat_interval_ms: 200, election_timeout_ms: 1000, quiesce_after_ms: 3000 });
    expect(s.replicas[0]).toEqual({ id: 1, region: 'wnam', priority: 3, role: 'follower', weight: 1, group: 0 });
    expect(describePolicy(s)).toBe('weight 2 of 3 to decide, 2 to elect');
  });

  it('refuses configurations that can never decide or could lose data, saying why', () => {
    expect(refused({ policy: { require_regions: ['oc'] } })).toContain('region oc has no voter, so nothing could ever be decided');
    expect(refused({ policy: { require_groups: [7] } })).toContain('group 7 has no voter');
    expect(refused({ policy: { phase1_weight: 1, phase2_weight: 2 } })).toContain('must exceed the total weight 3');
    expect(refused({ replicas: [{ id: 1, region: 'wnam', role: 'logger' }] })).toContain('no member can lead');
    expect(refused({ replicas: [...replicas, { id: 2, region: 'oc' }] })).toContain('replica id 2 appears twice');
    expect(refused({ heartbeat_interval_ms: 600 })).toContain('election_timeout_ms: must be at least twice heartbeat_interval_ms');
    expect(refused({ replicas: [{ id: 1, region: 'mars' }] })).toContain('streams[0].replicas[0].region');
  });

  it('turns regions into required sets of replicas for the quorum policy', () => {
    const s = parseClusterConfig({ streams: [{ name: 's', replicas, policy: { require_regions: ['weur'] } }] }).streams[0]!;
    const q = streamQuorum(s);
    expect(q.isPhase2Quorum(new Set([1, 3]))).toBe(false);
    expect(q.explainPhase2(new Set([1, 3]))).toBe('no acceptor of region weur (replicas 2)');
    expect(q.isPhase2Quorum(new Set([1, 2]))).toBe(true);
  });
});
