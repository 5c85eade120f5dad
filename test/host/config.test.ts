import { describe, expect, it } from 'vitest';
import { CATALOG_STREAM, ConfigError, DefinitionError, catalogStream, clusterConfig, configuredStream, describePolicy, parseClusterConfig, parseStreamDefinition, streamQuorum } from '../../src/host/config.ts';

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
    // Snapshots scale with the state unless a stream asks for a strict interval.
    expect(s.log).toEqual({ snapshot_every_slots: 1000, retain_slots: 100, scale_with_state: true });
    const strict = parseClusterConfig({ streams: [{ name: 'default', replicas, log: { snapshot_every_slots: 20, scale_with_state: false } }] }).streams[0]!;
    expect(strict.log).toEqual({ snapshot_every_slots: 20, retain_slots: 100, scale_with_state: false });
    expect(refused({ log: { scale_with_state: 'yes' } })).toContain('scale_with_state');
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

describe('config: the stream catalog', () => {
  it('takes the first configured stream\'s settings and replica placement under the name _catalog unless the configuration gives one', () => {
    const config = parseClusterConfig({ streams: [{ name: 'a', replicas, election_timeout_ms: 2000 }, { name: 'b', replicas: [{ id: 9, region: 'oc' }] }] });
    const catalog = catalogStream(config);
    expect(catalog).toEqual({ ...config.streams[0]!, name: CATALOG_STREAM });
    expect(configuredStream(config, CATALOG_STREAM)).toBe(catalog);
    expect(configuredStream(config, 'b')).toBe(config.streams[1]);
    expect(configuredStream(config, 'c')).toBeUndefined();

    const placed = parseClusterConfig({ streams: [{ name: 'a', replicas }], catalog: { replicas: [{ id: 1, region: 'enam' }, { id: 2, region: 'eeur' }, { id: 3, region: 'oc' }] } });
    expect(catalogStream(placed).replicas.map((r) => r.region)).toEqual(['enam', 'eeur', 'oc']);
    expect(catalogStream(placed)).toMatchObject({ name: CATALOG_STREAM, tick_ms: 50, quiesce_after_ms: 3000 });
  });

  it('refuses a catalog entry like a stream, saying where, and refuses configured names starting with _', () => {
    const refusal = (raw: unknown): string => {
      try {
        parseClusterConfig(raw);
      } catch (e) {
        return (e as Error).message;
      }
      throw new Error('the configuration was accepted');
    };
    expect(refusal({ streams: [{ name: 'a', replicas }], catalog: { replicas: [{ id: 1, region: 'mars' }] } })).toContain('catalog.replicas[0].region');
    expect(refusal({ streams: [{ name: 'a', replicas }], catalog: { name: 'x', replicas } })).toContain('catalog: Unrecognized key: "name"');
    expect(refusal({ streams: [{ name: 'a', replicas }], catalog: { replicas, policy: { require_regions: ['oc'] } } })).toContain('catalog.policy: region oc has no voter');
    expect(refusal({ streams: [{ name: '_catalog', replicas }] })).toContain('streams[0].name');
  });
});

describe('config: stream definitions (created at run time)', () => {
  it('validates one definition with the configuration\'s schema and fills its defaults', () => {
    const def = parseStreamDefinition({ name: 'orders', replicas });
    expect(def).toEqual(parseClusterConfig({ streams: [{ name: 'orders', replicas }] }).streams[0]);
    expect(parseStreamDefinition(def)).toEqual(def); // a normalised definition parses to itself (replicas re-check it)
  });

  it('names every problem of a definition with its path', () => {
    let error: unknown;
    try {
      parseStreamDefinition({ name: 'Orders', replicas: [{ id: 1, region: 'mars' }], colour: 'red' });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(DefinitionError);
    const problems = (error as DefinitionError).problems.join('\n');
    expect(problems).toContain('name: stream names are 1-63 characters');
    expect(problems).toContain('replicas[0].region');
    expect(problems).toContain('colour');
  });
});

describe('config: parsed once per isolate', () => {
  it('gives the same parsed configuration for the same object or text, and the same error for a bad one', () => {
    const raw = { streams: [{ name: 'once', replicas }] };
    const first = clusterConfig(raw);
    expect(clusterConfig(raw)).toBe(first);
    expect(clusterConfig(JSON.parse(JSON.stringify(raw)))).toBe(first); // an equal object: found by its text
    expect(clusterConfig(JSON.stringify(raw))).toBe(first);
    const bad = { streams: [{ name: 'once', replicas: [] }] };
    expect(() => clusterConfig(bad)).toThrow(ConfigError);
    expect(() => clusterConfig(bad)).toThrow(ConfigError);
  });
});
