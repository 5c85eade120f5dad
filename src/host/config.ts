import { z } from 'zod';
import {
  type Configuration,
  type ExplainingQuorumPolicy,
  type Member,
  type PriorityOptions,
  compileConfiguration,
} from '../core/index.ts';
import { type DcfConfiguration, fromDcfConfiguration, fromDcfRole, toDcfConfiguration } from './dcf.ts';
import { REGIONS, type Region } from './regions.ts';
import { timingSettingsProblems, timingWindows } from './timing-windows.ts';

export { REGIONS, type Region };

const ReplicaConfigSchema = z
  .object({
    id: z.number().int().min(1).max(1_000_000),
    region: z.enum(REGIONS),
    /** Election preference: higher wins. */
    priority: z.number().int().min(0).max(1000).default(0),
    /** follower: votes, applies, may lead; logger: votes and stores the log only; passive: applies, never votes. */
    role: z.enum(['follower', 'logger', 'passive']).default('follower'),
    /** Voting weight in the stream's weighted majority. */
    weight: z.number().int().min(1).max(100).default(1),
    /** Policy-majority group (DCF MAJORITY_GROUPS). */
    group: z.number().int().min(0).max(1000).default(0),
  })
  .strict();

const PolicySchema = z
  .object({
    /** A decision needs at least one accepting voter of each of these groups... */
    require_groups: z.array(z.number().int().min(0)).max(9).default([]),
    /** ...and of each of these regions (sugar for the groups of those regions). */
    require_regions: z.array(z.enum(REGIONS)).max(9).default([]),
    /** Flexible quorums: the weight phase 1 (elections) and phase 2 (decisions) need; phase1 + phase2 must exceed the total. */
    phase1_weight: z.number().int().min(1).optional(),
    phase2_weight: z.number().int().min(1).optional(),
  })
  .strict();

const PriorityElectionSchema = z
  .object({
    enabled: z.boolean().default(true),
    /** Hand leadership back to a returning higher-priority replica once it has caught up. */
    failback: z.boolean().default(true),
    /** A follower does not start or support an election until its leader has led this long (DCF ELECTION_SWITCH_THRESHOLD). */
    min_leader_tenure_ms: z.number().int().min(0).max(3_600_000).default(0),
  })
  .strict();

const LogSchema = z
  .object({
    /** Snapshot the state machine and truncate the log every this many applied slots (DCF dcf_truncate). */
    snapshot_every_slots: z.number().int().min(1).max(10_000_000).default(1000),
    /** Entries kept behind the snapshot, so a slightly lagging replica catches up from the log. */
    retain_slots: z.number().int().min(0).max(10_000_000).default(100),
    /**
     * Once the last snapshot held more records (keys, idempotency sessions, leases) than
     * `snapshot_every_slots`, wait as many slots as it held before the next, the replicas spread
     * over up to half as long again (CompactionPolicy.scaleWithState). `false`: strictly every
     * `snapshot_every_slots`, whatever a snapshot costs.
     */
    scale_with_state: z.boolean().default(true),
  })
  .strict();

/**
 * How the leader batches and pipelines accept batches (flow-control.ts). `adaptive`:
 * it measures its decided rate and commit latency and picks both by itself;
 * `fixed`: these limits, always.
 */
const FlowControlSchema = z.discriminatedUnion('mode', [
  z.object({ mode: z.literal('adaptive') }).strict(),
  z
    .object({
      mode: z.literal('fixed'),
      /** Pipeline depth: accept batches in flight at most. */
      inflight_max: z.number().int().min(1).max(64).default(8),
      /** Batch window: while a batch is in flight, a new one waits for this many commands (1 = send at once). */
      batch_min: z.number().int().min(1).max(256).default(1),
    })
    .strict(),
]);

export type FlowControlConfig = z.infer<typeof FlowControlSchema>;

/** Everything a stream is configured with except its name (the catalog stream takes this shape). */
const streamSettings = {
    replicas: z.array(ReplicaConfigSchema).min(1).max(9),
    policy: PolicySchema.default({ require_groups: [], require_regions: [] }),
    priority_election: PriorityElectionSchema.default({ enabled: true, failback: true, min_leader_tenure_ms: 0 }),
    log: LogSchema.default({ snapshot_every_slots: 1000, retain_slots: 100, scale_with_state: true }),
    flow_control: FlowControlSchema.default({ mode: 'adaptive' }),
    /**
     * `full`: the leader sends every accept batch to every follower. `thrifty`: only to its nearest
     * quorum (the fewest fastest followers, measured), hedging to the others when a batch is late; the
     * others are caught up with each heartbeat (src/core/thrifty.ts, docs/performance.md).
     */
    replication: z.enum(['full', 'thrifty']).default('full'),
    /** Granularity of the replica's logical clock. */
    tick_ms: z.number().int().min(1).max(1000).default(50),
    heartbeat_interval_ms: z.number().int().min(1).max(60_000).default(200),
    /**
     * Base election timeout; each replica draws its own from [base, 2 x base). Also the check-quorum window,
     * and the unit of every other wait (peer RPCs, client deadlines): timing-windows.ts names them all.
     */
    election_timeout_ms: z.number().int().min(1).max(600_000).default(1000),
    /** A stream goes quiet (no heartbeats) after this long without requests (0 = never); the next request wakes it. */
    quiesce_after_ms: z.number().int().min(0).max(86_400_000).default(3000),
    /**
     * Back-pressure: writes and linearizable reads the leader holds waiting for
     * their outcome at once; one more is answered 429 overloaded and never proposed.
     */
    queue_max: z.number().int().min(1).max(1_000_000).default(1000),
};

/** Stream names; names starting with `_` are reserved for edgepaxos's own streams (the catalog). */
const STREAM_NAME = /^[a-z0-9][a-z0-9_-]{0,62}$/;

/** Cross-field rules of a stream, checked once the shape is right. */
const StreamSettingsSchema = z.object(streamSettings).strict();
type StreamSettings = z.infer<typeof StreamSettingsSchema>;

function checkStream(s: StreamSettings, ctx: z.RefinementCtx): void {
    const ids = new Set<number>();
    s.replicas.forEach((r, i) => {
      if (ids.has(r.id)) ctx.addIssue({ code: 'custom', path: ['replicas', i, 'id'], message: `replica id ${r.id} appears twice` });
      ids.add(r.id);
    });
    if (ids.size === s.replicas.length) {
      try {
        streamQuorum(s);
      } catch (e) {
        if (!(e instanceof RangeError)) throw e;
        ctx.addIssue({ code: 'custom', path: ['policy'], message: e.message.replace(/^(quorum|membership): /, '') });
      }
    }
    for (const p of timingSettingsProblems(s)) ctx.addIssue({ code: 'custom', path: [p.path], message: p.message });
}

/** One stream's definition (an entry of `streams`; the body of `POST /v1/streams`). */
export const StreamConfigSchema = z
  .object({
    name: z.string().regex(STREAM_NAME, 'stream names are 1-63 characters of a-z, 0-9, _ and -, starting with a letter or digit'),
    ...streamSettings,
    /**
     * Set only by a restore (POST /v1/streams/{stream}/restore), never by hand:
     * the bootstrap replicas start from this snapshot (its slot and the SHA-256
     * of its state) and do nothing until they hold it (host/seed.ts).
     */
    restore: z
      .object({ slot: z.number().int().min(1).max(Number.MAX_SAFE_INTEGER), sha256: z.string().regex(/^[0-9a-f]{64}$/) })
      .strict()
      .optional(),
    /**
     * Set only on the shards of a keyspace with `leaders: follow`, never by hand:
     * the leader counts decided writes by origin region and moves the
     * priorities to the region that writes most (src/kv/traffic-follower.ts).
     */
    leaders: z.literal('follow').optional(),
  })
  .strict()
  .superRefine(checkStream);

/**
 * The catalog stream (`_catalog`), where streams created at run time are
 * recorded. Optional: without it the catalog takes the settings and replica
 * placement of the first configured stream.
 */
const CatalogConfigSchema = StreamSettingsSchema.superRefine(checkStream);

/** Keyspace names: like stream names, without `_` (a shard is `<keyspace>_s<NNNN>`, so a shard name is read one way only). */
const KEYSPACE_NAME = /^[a-z0-9][a-z0-9-]{0,40}$/;
export const KEYSPACE_SHARDS_MAX = 256;

const KeyspaceReplicaSchema = ReplicaConfigSchema.omit({ id: true }).strict();

/**
 * A keyspace: a key space spread over `shards` streams, each with these
 * replicas (ids 1.. in order) and settings. `leaders`: `spread` rotates the
 * electable replicas' priorities so that the shards' leaders spread evenly
 * over their regions; `follow` starts spread, then each shard's leader moves
 * the preference to the region that writes to it most (traffic-follower.ts);
 * a region puts every shard's leader there; absent, every shard takes the
 * priorities as given.
 */
const keyspaceShape = {
  name: z.string().regex(KEYSPACE_NAME, 'keyspace names are 1-41 characters of a-z, 0-9 and -, starting with a letter or digit'),
  shards: z.number().int().min(1).max(KEYSPACE_SHARDS_MAX),
  replicas: z.array(KeyspaceReplicaSchema).min(1).max(9),
  leaders: z.union([z.literal('spread'), z.literal('follow'), z.enum(REGIONS)]).optional(),
  policy: streamSettings.policy,
  priority_election: streamSettings.priority_election,
  log: streamSettings.log,
  flow_control: streamSettings.flow_control,
  tick_ms: streamSettings.tick_ms,
  heartbeat_interval_ms: streamSettings.heartbeat_interval_ms,
  election_timeout_ms: streamSettings.election_timeout_ms,
  quiesce_after_ms: streamSettings.quiesce_after_ms,
  queue_max: streamSettings.queue_max,
};

/** One keyspace's definition (an entry of `keyspaces`; the body of `POST /v1/keyspaces`). */
export const KeyspaceConfigSchema = z
  .object(keyspaceShape)
  .strict()
  .superRefine((k, ctx) => {
    const electable = k.replicas.filter((r) => r.role === 'follower');
    if (k.leaders !== undefined && k.leaders !== 'spread' && k.leaders !== 'follow' && !electable.some((r) => r.region === k.leaders)) {
      ctx.addIssue({ code: 'custom', path: ['leaders'], message: `no replica in region '${k.leaders}' can lead (a follower there is needed)` });
      return;
    }
    // Every shard is an ordinary stream: the first one's definition must pass the stream's own rules.
    const shard0 = StreamConfigSchema.safeParse(shardDefinition(k, 0));
    if (!shard0.success) for (const i of shard0.error.issues) ctx.addIssue({ code: 'custom', path: i.path, message: i.message });
  });

export type KeyspaceConfig = z.infer<typeof KeyspaceConfigSchema>;

/** The stream name of shard `i` of keyspace `keyspace`: `<keyspace>_s0007`. */
export function shardStreamName(keyspace: string, i: number): string {
  return `${keyspace}_s${String(i).padStart(4, '0')}`;
}

/** The keyspace and shard index a stream name means, if it has a shard's form. */
export function parseShardName(name: string): { readonly keyspace: string; readonly shard: number } | null {
  const m = /^([a-z0-9][a-z0-9-]{0,40})_s(\d{4})$/.exec(name);
  return m ? { keyspace: m[1]!, shard: Number(m[2]) } : null;
}

/**
 * Shard `i`'s stream definition: the keyspace's replicas with ids 1.. and
 * its settings; with `leaders`, priorities rotated (spread) or pinned (a
 * region) so that this shard prefers its leader's region. Electable
 * replicas get priorities 10 x (their rank from the last), others 0.
 */
export function shardDefinition(k: Omit<KeyspaceConfig, 'name'> & { readonly name: string }, i: number): StreamConfig {
  const { name, shards: _shards, replicas, leaders, ...settings } = k;
  const electable = replicas.map((r, index) => ({ r, index })).filter((x) => x.r.role === 'follower');
  const priority = new Map<number, number>();
  if (leaders !== undefined) {
    const regions = [...new Set(electable.map((x) => x.r.region))];
    // follow starts spread; the shard's leader then moves the preference (traffic-follower.ts).
    const first = leaders === 'spread' || leaders === 'follow' ? i % regions.length : regions.indexOf(leaders);
    // Regions in rotated order from this shard's leader region; within one, the given priorities.
    const rank = (region: string): number => (regions.indexOf(region as Region) - first + regions.length) % regions.length;
    const ordered = [...electable].sort((a, b) => rank(a.r.region) - rank(b.r.region) || b.r.priority - a.r.priority || a.index - b.index);
    ordered.forEach((x, n) => priority.set(x.index, 10 * (ordered.length - n)));
  }
  return {
    name: shardStreamName(name, i),
    ...settings,
    replicas: replicas.map((r, index) => ({ ...r, id: index + 1, priority: leaders === undefined ? r.priority : (priority.get(index) ?? 0) })),
    ...(leaders === 'follow' ? { leaders: 'follow' } : {}),
  } as StreamConfig;
}

const ClusterConfigSchema = z
  .object({
    streams: z.array(StreamConfigSchema).min(1).max(1000),
    catalog: CatalogConfigSchema.optional(),
    keyspaces: z.array(KeyspaceConfigSchema).max(100).default([]),
  })
  .strict()
  .superRefine((c, ctx) => {
    const names = new Set<string>();
    c.streams.forEach((s, i) => {
      if (names.has(s.name)) ctx.addIssue({ code: 'custom', path: ['streams', i, 'name'], message: `stream '${s.name}' appears twice` });
      if (parseShardName(s.name)) ctx.addIssue({ code: 'custom', path: ['streams', i, 'name'], message: `'${s.name}' has the form of a keyspace's shard (<keyspace>_sNNNN), which is reserved` });
      names.add(s.name);
      if (s.restore) ctx.addIssue({ code: 'custom', path: ['streams', i, 'restore'], message: 'only a stream restored at run time has a restore (POST /v1/streams/{stream}/restore)' });
      if (s.leaders) ctx.addIssue({ code: 'custom', path: ['streams', i, 'leaders'], message: "leaders is a keyspace's setting (keyspaces[].leaders), set on its shards" });
    });
    const keyspaces = new Set<string>();
    c.keyspaces.forEach((k, i) => {
      if (keyspaces.has(k.name)) ctx.addIssue({ code: 'custom', path: ['keyspaces', i, 'name'], message: `keyspace '${k.name}' appears twice` });
      keyspaces.add(k.name);
    });
  });

export type ReplicaConfig = z.infer<typeof ReplicaConfigSchema>;
export type StreamConfig = z.infer<typeof StreamConfigSchema>;
export type CatalogConfig = z.infer<typeof CatalogConfigSchema>;
export type ClusterConfig = z.infer<typeof ClusterConfigSchema>;

/** A configuration that cannot be used; the message says what is wrong and where. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

/**
 * Parse the cluster configuration from the `EDGEPAXOS_CONFIG` variable: a JSON
 * string (as `--var` or the dashboard give it) or an object (as a wrangler.toml
 * table gives it). Throws ConfigError naming every problem.
 */
export function parseClusterConfig(raw: unknown): ClusterConfig {
  let value = raw;
  if (raw === undefined || raw === null || raw === '') throw new ConfigError('EDGEPAXOS_CONFIG is not set');
  if (typeof raw === 'string') {
    try {
      value = JSON.parse(raw);
    } catch (e) {
      throw new ConfigError(`EDGEPAXOS_CONFIG is not valid JSON: ${(e as Error).message}`);
    }
  }
  const parsed = ClusterConfigSchema.safeParse(value);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${formatPath(i.path)}: ${i.message}`);
    throw new ConfigError(`EDGEPAXOS_CONFIG is invalid: ${problems.join('; ')}`);
  }
  return parsed.data;
}

function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : out === '' ? String(p) : `.${String(p)}`;
  return out || '(root)';
}

const cache = new Map<unknown, ClusterConfig | ConfigError>();
/** The same, by object: an env var given as a table is one object per isolate, so most calls end here without serialising it. */
const byObject = new WeakMap<object, ClusterConfig | ConfigError>();

/** The parsed configuration for this env value, parsed once per isolate. */
export function clusterConfig(raw: unknown): ClusterConfig {
  const isObject = typeof raw === 'object' && raw !== null;
  let hit = isObject ? byObject.get(raw) : undefined;
  if (hit) {
    if (hit instanceof ConfigError) throw hit;
    return hit;
  }
  const key = typeof raw === 'string' ? raw : JSON.stringify(raw);
  hit = cache.get(key);
  if (hit && isObject) byObject.set(raw, hit);
  if (!hit) {
    try {
      hit = parseClusterConfig(raw);
    } catch (e) {
      if (!(e instanceof ConfigError)) throw e;
      hit = e;
    }
    cache.set(key, hit);
    if (isObject) byObject.set(raw, hit);
  }
  if (hit instanceof ConfigError) throw hit;
  return hit;
}

/** The core's view of a stream's replicas (its member roles: dcf.ts). */
export function streamMembers(s: Pick<StreamConfig, 'replicas'>): Member[] {
  return s.replicas.map((r) => ({ id: r.id, role: fromDcfRole(r.role), priority: r.priority, weight: r.weight, group: r.group, region: r.region }));
}

/** The stream's bootstrap configuration in the API's names (DCF's member roles), as the API shows and edits it. */
export function streamConfiguration(s: Pick<StreamConfig, 'replicas' | 'policy'>): DcfConfiguration {
  return toDcfConfiguration(bootstrapConfiguration(s));
}

/** The stream's bootstrap configuration, as the core takes it (later changes live in the log). */
export function bootstrapConfiguration(s: Pick<StreamConfig, 'replicas' | 'policy'>): Configuration {
  return {
    members: streamMembers(s),
    policy: {
      requireGroups: s.policy.require_groups,
      requireRegions: s.policy.require_regions,
      ...(s.policy.phase1_weight !== undefined ? { phase1Weight: s.policy.phase1_weight } : {}),
      ...(s.policy.phase2_weight !== undefined ? { phase2Weight: s.policy.phase2_weight } : {}),
    },
  };
}

/** The stream's quorum policy; throws RangeError (with the reason) for one that is unsafe or can never decide. */
export function streamQuorum(s: Pick<StreamConfig, 'replicas' | 'policy'>): ExplainingQuorumPolicy {
  return compileConfiguration(bootstrapConfiguration(s)).quorum;
}

/** One line for the status page: what a decision needs under `c` (in the API's names or the core's). */
export function describeConfigurationPolicy(c: DcfConfiguration | Configuration): string {
  const q = compileConfiguration(fromDcfConfiguration(c)).quorum;
  const parts = [`weight ${q.phase2Weight} of ${q.totalWeight} to decide, ${q.phase1Weight} to elect`];
  const groups = c.policy.requireGroups ?? [];
  const regions = c.policy.requireRegions ?? [];
  if (groups.length > 0) parts.push(`an acceptor of each group ${groups.join(', ')}`);
  if (regions.length > 0) parts.push(`an acceptor in each region ${regions.join(', ')}`);
  return parts.join('; ');
}

/** One line for the status page: what a decision needs under the bootstrap configuration. */
export function describePolicy(s: StreamConfig): string {
  return describeConfigurationPolicy(bootstrapConfiguration(s));
}

export function streamPriority(s: StreamConfig): PriorityOptions {
  const p = s.priority_election;
  return { enabled: p.enabled, failback: p.failback, minLeaderTenureTicks: Math.ceil(p.min_leader_tenure_ms / s.tick_ms) };
}

/** A stream named in the configuration, or a shard of a configured keyspace (the catalog is not one of them: see `catalogStream`). */
export function findStream(config: ClusterConfig, name: string): StreamConfig | undefined {
  const found = config.streams.find((s) => s.name === name);
  if (found) return found;
  const shard = parseShardName(name);
  if (!shard) return undefined;
  const k = findKeyspace(config, shard.keyspace);
  return k && shard.shard < k.shards ? configuredShard(k, shard.shard) : undefined;
}

/** A keyspace of the configuration. */
export function findKeyspace(config: ClusterConfig, name: string): KeyspaceConfig | undefined {
  return config.keyspaces.find((k) => k.name === name);
}

const shardCache = new WeakMap<KeyspaceConfig, StreamConfig[]>();

/** Shard `i` of a configured keyspace, derived once per isolate. */
export function configuredShard(k: KeyspaceConfig, i: number): StreamConfig {
  let list = shardCache.get(k);
  if (!list) shardCache.set(k, (list = []));
  return (list[i] ??= shardDefinition(k, i));
}

/** A keyspace definition from a request body, validated like an entry of `keyspaces`; throws DefinitionError naming every problem. */
export function parseKeyspaceDefinition(raw: unknown): KeyspaceConfig {
  const parsed = KeyspaceConfigSchema.safeParse(raw);
  if (!parsed.success) throw new DefinitionError(parsed.error.issues.map((i) => `${formatPath(i.path)}: ${i.message}`));
  return parsed.data;
}

/** The reserved name of the catalog stream. Users cannot create or configure names starting with `_`. */
export const CATALOG_STREAM = '_catalog';

const catalogs = new WeakMap<ClusterConfig, StreamConfig>();

/**
 * The catalog stream: the configuration's `catalog` entry if there is one,
 * else the first configured stream's settings and replica placement under the
 * name `_catalog` (its own Durable Objects; it only shares the regions).
 */
export function catalogStream(config: ClusterConfig): StreamConfig {
  let hit = catalogs.get(config);
  if (!hit) {
    // `name` first, as in a configured stream; the first stream's own name is not carried over.
    const { name: _first, ...settings } = { name: CATALOG_STREAM, ...(config.catalog ?? config.streams[0]!) };
    hit = { name: CATALOG_STREAM, ...settings };
    catalogs.set(config, hit);
  }
  return hit;
}

/** A stream the deployment's configuration defines: a configured stream or the catalog. */
export function configuredStream(config: ClusterConfig, name: string): StreamConfig | undefined {
  return name === CATALOG_STREAM ? catalogStream(config) : findStream(config, name);
}

/** A stream definition that cannot be used: every problem, each with its path. */
export class DefinitionError extends Error {
  override readonly name = 'DefinitionError';
  readonly problems: readonly string[];

  constructor(problems: readonly string[]) {
    super(problems.join('; '));
    this.problems = problems;
  }
}

/**
 * Validate one stream definition (the shape of one entry of `streams`) with
 * the same schema and cross-field rules as the configuration, filling the
 * defaults. Throws DefinitionError naming every problem.
 */
export function parseStreamDefinition(raw: unknown): StreamConfig {
  const parsed = StreamConfigSchema.safeParse(raw);
  if (!parsed.success) throw new DefinitionError(parsed.error.issues.map((i) => `${formatPath(i.path)}: ${i.message}`));
  return parsed.data;
}

/** Core timing in ticks from a stream's millisecond settings (timing-windows.ts). */
export function streamTiming(s: StreamConfig): { heartbeatIntervalTicks: number; electionTimeoutTicks: number; retransmitTicks: number } {
  const w = timingWindows(s);
  return { heartbeatIntervalTicks: w.heartbeatIntervalTicks, electionTimeoutTicks: w.electionTimeoutTicks, retransmitTicks: w.retransmitTicks };
}
