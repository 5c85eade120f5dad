import { z } from 'zod';

import { REGIONS, type Region } from './regions.ts';

export { REGIONS, type Region };

const ReplicaConfigSchema = z
  .object({
    id: z.number().int().min(1).max(1_000_000),
    region: z.enum(REGIONS),
    /** Election preference: higher wins (used by priority election; shown in status). */
    priority: z.number().int().min(0).max(1000).default(0),
    /** Only voting followers exist so far; logger and passive roles come with region policies. */
    role: z.literal('follower').default('follower'),
    /** Policy-majority group (DCF); 0 when no policy uses groups. */
    group: z.number().int().min(0).max(1000).default(0),
  })
  .strict();

const StreamConfigSchema = z
  .object({
    name: z.string().regex(/^[a-z0-9][a-z0-9_-]{0,62}$/, 'stream names are 1-63 characters of a-z, 0-9, _ and -, starting with a letter or digit'),
    replicas: z.array(ReplicaConfigSchema).min(1).max(9),
    policy: z.object({ kind: z.literal('majority') }).strict().default({ kind: 'majority' }),
    /** Granularity of the replica's logical clock. */
    tick_ms: z.number().int().min(1).max(1000).default(50),
    heartbeat_interval_ms: z.number().int().min(1).max(60_000).default(200),
    /** Base election timeout; each replica draws its own from [base, 2 x base). Also the check-quorum window. */
    election_timeout_ms: z.number().int().min(1).max(600_000).default(1000),
  })
  .strict()
  .superRefine((s, ctx) => {
    const ids = new Set<number>();
    s.replicas.forEach((r, i) => {
      if (ids.has(r.id)) ctx.addIssue({ code: 'custom', path: ['replicas', i, 'id'], message: `replica id ${r.id} appears twice` });
      ids.add(r.id);
    });
    if (s.heartbeat_interval_ms < s.tick_ms) {
      ctx.addIssue({ code: 'custom', path: ['heartbeat_interval_ms'], message: `must be at least tick_ms (${s.tick_ms})` });
    }
    if (s.election_timeout_ms < 2 * s.heartbeat_interval_ms) {
      ctx.addIssue({
        code: 'custom',
        path: ['election_timeout_ms'],
        message: `must be at least twice heartbeat_interval_ms (${s.heartbeat_interval_ms}), or followers time out between heartbeats`,
      });
    }
  });

const ClusterConfigSchema = z
  .object({
    streams: z.array(StreamConfigSchema).min(1).max(1000),
  })
  .strict()
  .superRefine((c, ctx) => {
    const names = new Set<string>();
    c.streams.forEach((s, i) => {
      if (names.has(s.name)) ctx.addIssue({ code: 'custom', path: ['streams', i, 'name'], message: `stream '${s.name}' appears twice` });
      names.add(s.name);
    });
  });

export type ReplicaConfig = z.infer<typeof ReplicaConfigSchema>;
export type StreamConfig = z.infer<typeof StreamConfigSchema>;
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

/** The parsed configuration for this env value, parsed once per isolate. */
export function clusterConfig(raw: unknown): ClusterConfig {
  const key = typeof raw === 'string' ? raw : JSON.stringify(raw);
  let hit = cache.get(key);
  if (!hit) {
    try {
      hit = parseClusterConfig(raw);
    } catch (e) {
      if (!(e instanceof ConfigError)) throw e;
      hit = e;
    }
    cache.set(key, hit);
  }
  if (hit instanceof ConfigError) throw hit;
  return hit;
}

export function findStream(config: ClusterConfig, name: string): StreamConfig | undefined {
  return config.streams.find((s) => s.name === name);
}

/** Core timing in ticks from a stream's millisecond settings. */
export function streamTiming(s: StreamConfig): { heartbeatIntervalTicks: number; electionTimeoutTicks: number; retransmitTicks: number } {
  const heartbeatIntervalTicks = Math.max(1, Math.round(s.heartbeat_interval_ms / s.tick_ms));
  const electionTimeoutTicks = Math.max(heartbeatIntervalTicks + 1, Math.round(s.election_timeout_ms / s.tick_ms));
  return { heartbeatIntervalTicks, electionTimeoutTicks, retransmitTicks: Math.max(2, heartbeatIntervalTicks * 2) };
}
