import { createRoute, z } from '@hono/zod-openapi';
import { TXN_COMPARES_MAX, TXN_OPS_MAX } from '../kv/index.ts';
import { idempotency, target } from './kv.ts';
import { type App, group, json, register, stream } from './route.ts';
import { IdempotencyHeader, StreamParams, body, errors, ok } from './schemas.ts';
import * as service from './service.ts';
import { bodyLimitFor, maxValueBytes } from './validation.ts';

const Key = z.string().openapi({ description: 'A key (1-1024 bytes)' });

export const TxnCompare = z
  .object({
    key: Key,
    target: z.enum(['revision', 'create_revision', 'value']).openapi({ description: '`revision`: the slot that last changed the key (0: absent); `create_revision`: the slot that created it; `value`' }),
    op: z.enum(['==', '!=', '<', '>']).openapi({ description: '`<` and `>` compare revisions only' }),
    value: z.union([z.number().int().min(0), z.string()]).openapi({ description: 'A revision (a number; 0 means absent) or a value (a string). A value compare on an absent key never holds' }),
  })
  .strict()
  .openapi('TxnCompare');

const PutOp = z
  .object({
    put: z
      .object({
        key: Key,
        value: z.string(),
        lease: z.string().optional().openapi({ description: 'Attach the key to this lease' }),
        ignore_lease: z.boolean().optional().openapi({ description: "Keep the key's current lease (etcd's ignore_lease); not with `lease`" }),
      })
      .strict(),
  })
  .strict();
const DeleteOp = z.object({ delete: z.object({ key: Key }).strict() }).strict();
const DeletePrefixOp = z.object({ delete_prefix: z.object({ prefix: z.string().openapi({ description: "Every key starting with this ('' deletes every key)" }) }).strict() }).strict();
const GetOp = z.object({ get: z.object({ key: Key }).strict() }).strict();

export const TxnOp = z
  .union([PutOp, DeleteOp, DeletePrefixOp, GetOp], { error: 'an operation is {"put":{"key","value","lease"?,"ignore_lease"?}}, {"delete":{"key"}}, {"delete_prefix":{"prefix"}} or {"get":{"key"}}' })
  .openapi('TxnOp');

export const TxnBody = z
  .object({
    compare: z.array(TxnCompare).max(TXN_COMPARES_MAX).default([]).openapi({ description: `Every compare must hold for \`success\` to apply (at most ${TXN_COMPARES_MAX})` }),
    success: z.array(TxnOp).default([]),
    failure: z.array(TxnOp).default([]).openapi({ description: `Applied when a compare fails. At most ${TXN_OPS_MAX} operations in success and failure together` }),
  })
  .strict()
  .openapi('TxnBody');

const TxnOpResult = z
  .union([
    z.object({ revision: z.number().int() }).openapi({ description: 'A put: its revision (the transaction\'s)' }),
    z.object({ deleted: z.number().int() }).openapi({ description: 'A delete or delete_prefix: how many keys it removed' }),
    z.object({ key: z.string(), value: z.string(), revision: z.number().int(), create_revision: z.number().int() }).openapi({ description: 'A get that found the key' }),
    z.object({ key: z.string(), found: z.literal(false) }).openapi({ description: 'A get of an absent key' }),
  ])
  .openapi('TxnOpResult');

export const TxnResult = z
  .object({
    succeeded: z.boolean().openapi({ description: 'Whether every compare held (so `success` applied; else `failure`)' }),
    revision: z.number().int().openapi({ description: 'The slot the transaction was decided at: the revision of every key it changed' }),
    results: z.array(TxnOpResult).openapi({ description: 'One per operation of the branch that applied, in order' }),
  })
  .openapi('TxnResult');

/** Room for the keys of every operation and compare, each escaped at worst, beside the values. */
const KEYS_ROOM_BYTES = 6 * 1024 * (TXN_OPS_MAX + TXN_COMPARES_MAX);

const txnRoute = createRoute({
  method: 'post',
  path: '/v1/streams/{stream}/txn',
  tags: ['key-value'],
  summary: 'A transaction: compares, then one branch of puts, deletes and gets, as one decided command',
  // Read access opens it; each operation is authorised by the service (writes need write access on their keys).
  middleware: [stream('read')],
  bodyLimit: (env: Cloudflare.Env) => bodyLimitFor(maxValueBytes(env)) + KEYS_ROOM_BYTES,
  request: { params: StreamParams, headers: IdempotencyHeader, body: body(TxnBody) },
  responses: {
    200: ok(TxnResult, 'Decided and applied (atomically, at one revision)'),
    ...errors({
      400: ['invalid_json', 'invalid_request', 'invalid_key', 'invalid_idempotency_key'],
      403: ['reserved_stream'],
      404: ['stream_not_found', 'lease_not_found'],
      413: ['value_too_large', 'payload_too_large', 'txn_too_large'],
      422: ['idempotency_key_reused'],
      429: ['overloaded'],
      503: ['outcome_unknown', 'unavailable', 'catalog_unavailable'],
    }),
  },
});

/** The transaction route (etcd's Txn). */
export function txnRoutes(): App {
  const app = group();
  register(app, txnRoute, async (c, { body }) => json(c, await service.txn(target(c), body, idempotency(c))));
  return app;
}
