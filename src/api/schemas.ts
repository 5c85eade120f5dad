import { z } from '@hono/zod-openapi';
import { decimal } from './validation.ts';

/**
 * The schemas shared by routes: they validate requests and describe them,
 * and the answers, in /openapi.json.
 */

export const StreamName = z.string().min(1).openapi({ description: 'A stream: configured, the catalog `_catalog`, or created at run time', example: 'default' });

export const StreamParams = z.object({ stream: StreamName }).strict();

export const ReplicaParams = z
  .object({ stream: StreamName, id: decimal(1, 1_000_000).openapi({ description: 'A replica id, in plain decimal digits', example: '1' }) })
  .strict();

export const Consistency = z
  .enum(['linearizable', 'stale'])
  .default('linearizable')
  .openapi({ description: '`linearizable` (default) reads through the leader; `stale` answers from the nearest replica, possibly behind' });

export const IdempotencyHeader = z.object({
  'idempotency-key': z
    .string()
    .optional()
    .openapi({ description: 'Applies the write at most once: a retry with the same key is answered with the first result (1-256 characters)' }),
});

export const ErrorBody = z
  .object({
    error: z
      .object({
        code: z.string().openapi({ description: 'A stable, machine-readable code (see the route\'s answers and docs/api.md)', example: 'revision_mismatch' }),
        message: z.string().openapi({ description: 'What went wrong and what to do, for a person', example: "the key's revision is 2, not 1" }),
      })
      .catchall(z.unknown())
      .openapi({ description: 'Some codes add fields (current_revision, first_slot, first_index, idempotency_key, ...)' }),
  })
  .openapi('Error');

export const KvItem = z.object({ key: z.string(), value: z.string(), revision: z.number().int() }).openapi('KvItem');

export const PutResult = z.object({ revision: z.number().int().openapi({ description: 'The slot that wrote the value' }) }).openapi('PutResult');
export const DeleteResult = z.object({ deleted: z.boolean(), revision: z.number().int() }).openapi('DeleteResult');
export const ListResult = z
  .object({
    items: z.array(KvItem),
    cursor: z.string().optional().openapi({ description: 'Present when more keys may follow: pass it as `cursor` to read on' }),
  })
  .openapi('ListResult');
export const AppendResult = z.object({ index: z.number().int().openapi({ description: 'The slot of the record' }) }).openapi('AppendResult');
export const LogRecord = z.object({ index: z.number().int(), data: z.string() }).openapi('LogRecord');
export const ReadResult = z.object({ entries: z.array(LogRecord) }).openapi('ReadResult');

export const NodeStatus = z
  .object({
    node_id: z.number().int(),
    region: z.string().nullable(),
    role: z.string(),
    priority: z.number().int(),
    weight: z.number().int(),
    group: z.number().int(),
    applied_index: z.number().int().nullable(),
    commit_index: z.number().int().nullable(),
    first_index: z.number().int().nullable(),
    last_index: z.number().int().nullable(),
    term: z.number().int().nullable(),
    leader_id: z.number().int().nullable(),
    lag: z.number().int().nullable().openapi({ description: "Slots behind the leader's decided index (what it applied; decided, for a logger); null without a leader or an answer" }),
    healthy: z.boolean(),
    quiescent: z.boolean().nullable(),
    partitioned_from: z.array(z.number().int()),
    last_transition: z.string().nullable().openapi({ description: "The node's latest role change and its reason (null: none since it started, or it did not answer)" }),
    last_refusal: z.string().nullable().openapi({ description: 'The latest thing the node declined to do and why (null: nothing since it started, or it did not answer)' }),
  })
  .openapi('NodeStatus');

export const StreamStatus = z
  .object({
    stream: z.string(),
    leader_id: z.number().int().nullable(),
    term: z.number().int(),
    run_mode: z.string(),
    work_mode: z.string(),
    vote_num: z.number().int().nullable(),
    minority_replicas: z.array(z.number().int()).nullable(),
    epoch: z.number().int(),
    hb_interval_ms: z.number().int(),
    elc_timeout_ms: z.number().int(),
    commit_index: z.number().int(),
    cluster_min_apply_idx: z.number().int().nullable(),
    policy: z.string(),
    configuration_index: z.number().int(),
    configuration_change_pending: z.boolean(),
    priority_election: z.object({ enabled: z.boolean(), failback: z.boolean(), min_leader_tenure_ms: z.number().int() }),
    writes_blocked: z.string().nullable(),
    transferring_to: z.number().int().nullable(),
    nodes: z.array(NodeStatus),
  })
  .openapi('StreamStatus');

export const ClusterStatus = z
  .object({
    streams: z.array(
      z.object({
        name: z.string(),
        kind: z.enum(['configured', 'system', 'dynamic']),
        state: z.string().openapi({ description: '`active`, or `deleting` (its status is then null)' }),
        status: StreamStatus.nullable(),
        error: z.object({ code: z.string(), message: z.string() }).nullable().openapi({ description: 'Why the status could not be had' }),
      }),
    ),
    catalog_error: z.string().nullable().openapi({ description: 'Why streams created at run time could not be listed, or null' }),
  })
  .openapi('ClusterStatus');

/** An answer whose fields are described in docs/api.md (operator routes). */
export function loose(name: string, description: string, shape: z.ZodRawShape = {}) {
  return z.looseObject(shape).openapi(name, { description });
}

type Errors = Partial<Record<400 | 401 | 403 | 404 | 409 | 410 | 413 | 422 | 429 | 500 | 503 | 504, readonly string[]>>;

/** Every stream route can answer these. */
const COMMON: Errors = {
  401: ['unauthorized'],
  403: ['forbidden', 'data_access_disabled'],
  500: ['invalid_configuration'],
};

/**
 * The error answers of a route, each status listing its codes, plus the
 * common ones (authorisation, configuration).
 */
export function errors(specific: Errors, common: Errors = COMMON) {
  const merged: Record<string, Set<string>> = {};
  for (const source of [common, specific]) {
    for (const [status, codes] of Object.entries(source)) {
      const set = (merged[status] ??= new Set());
      for (const code of codes ?? []) set.add(code);
    }
  }
  return Object.fromEntries(
    Object.entries(merged).map(([status, codes]) => [
      status,
      { description: [...codes].map((c) => `\`${c}\``).join(', '), content: { 'application/json': { schema: ErrorBody } } },
    ]),
  );
}

export function ok<S extends z.ZodType>(schema: S, description: string) {
  return { description, content: { 'application/json': { schema } } };
}

/** A JSON request body. */
export function body<S extends z.ZodType>(schema: S, description?: string) {
  return { required: true, ...(description ? { description } : {}), content: { 'application/json': { schema } } };
}
