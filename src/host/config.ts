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
    log: LogSchema.default({ snapshot_every_slots: 1000, retain_slots: 100 }),
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
  })
  .strict()
  .superRefine(checkStream);

/**
 * The catalog stream (`_catalog`), where streams created at run time are
 * recorded. Optional: without it the catalog takes the settings and replica
 * placement of the first configured stream.
 */
const CatalogConfigSchema = StreamSettingsSchema.superRefine(checkStream);

const ClusterConfigSchema = z
  .object({
    streams: z.array(StreamConfigSchema).min(1).max(1000),
    catalog: CatalogConfigSchema.optional(),
  })
  .strict()
  .superRefine((c, ctx) => {
    const names = new Set<string>();
    c.streams.forEach((s, i) => {
      if (names.has(s.name)) ctx.addIssue({ code: 'custom', path: ['streams', i, 'name'], message: `stream '${s.name}' appears twice` });
      names.add(s.name);
      if (s.restore) ctx.addIssue({ code: 'custom', path: ['streams', i, 'restore'], message: 'only a stream restored at run time has a restore (POST /v1/streams/{stream}/restore)' });
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

/** A stream named in the configuration (the catalog is not one of them: see `catalogStream`). */
export function findStream(config: ClusterConfig, name: string): StreamConfig | undefined {
  return config.streams.find((s) => s.name === name);
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
