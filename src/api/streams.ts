import { createRoute, z } from '@hono/zod-openapi';
import { type StreamConfig, StreamConfigSchema } from '../host/config.ts';
import { type App, adminCaller, group, json, register } from './route.ts';
import { StreamParams, body, errors, loose, ok } from './schemas.ts';
import * as streams from './streams-service.ts';
import { DEFINITION_BYTES_MAX, parseDefinition } from './streams-service.ts';

const tags = ['streams'];
const ADMIN_COMMON = { 401: ['unauthorized'], 403: ['forbidden', 'admin_disabled'], 500: ['invalid_configuration'] } as const;
const StreamEntry = loose('StreamEntry', 'A stream: where it comes from and its definition, every default filled in', {
  name: z.string(),
  kind: z.enum(['configured', 'system', 'dynamic']),
  definition: z.unknown().optional(),
});
const StreamList = z
  .object({
    streams: z.array(z.looseObject({ name: z.string(), kind: z.string(), replicas: z.array(z.number().int()), leader_id: z.number().int().nullable(), leader_region: z.string().nullable() })),
    catalog_error: z.string().nullable(),
  })
  .openapi('StreamList');

const createStreamRoute = createRoute({
  method: 'post',
  path: '/v1/streams',
  tags,
  summary: 'Create a stream at run time (recorded in the catalog)',
  middleware: [adminCaller],
  bodyLimit: () => DEFINITION_BYTES_MAX,
  parseBody: (json: unknown) => parseDefinition(json),
  request: { body: body(StreamConfigSchema, "One entry of EDGEPAXOS_CONFIG's `streams`; names starting with `_` are reserved") },
  responses: {
    201: ok(StreamEntry, 'Created'),
    ...errors(
      { 400: ['invalid_json', 'invalid_request'], 409: ['stream_exists'], 413: ['payload_too_large'], 503: ['catalog_unavailable', 'outcome_unknown'] },
      ADMIN_COMMON,
    ),
  },
});

const deleteStreamRoute = createRoute({
  method: 'delete',
  path: '/v1/streams/{stream}',
  tags,
  summary: 'Delete a stream created at run time, wiping its replicas',
  middleware: [adminCaller],
  request: { params: StreamParams },
  responses: {
    200: ok(loose('StreamDeletion', '`deleted`, or `deleting` with the replicas not reached (repeat the call)'), 'Deleted or being deleted'),
    ...errors({ 404: ['stream_not_found'], 409: ['configured_stream', 'conflict'], 503: ['catalog_unavailable', 'outcome_unknown'] }, ADMIN_COMMON),
  },
});

const describeStreamRoute = createRoute({
  method: 'get',
  path: '/v1/streams/{stream}',
  tags,
  summary: "A stream's definition",
  request: { params: StreamParams },
  responses: { 200: ok(StreamEntry, 'The stream'), ...errors({ 404: ['stream_not_found'], 503: ['catalog_unavailable'] }) },
});

const listStreamsRoute = createRoute({
  method: 'get',
  path: '/v1/streams',
  tags,
  summary: 'Every stream the caller may read, with its leader',
  responses: { 200: ok(StreamList, 'Configured streams, the catalog, and streams created at run time'), ...errors({}) },
});

/**
 * The stream collection: list every stream (`GET /v1/streams`), describe one
 * (`GET /v1/streams/{name}`), and, with an admin grant, create a stream at
 * run time (`POST /v1/streams`) and delete one (`DELETE /v1/streams/{name}`).
 * Each handler validates, calls the streams service (streams-service.ts,
 * which the EdgePaxosAdmin entrypoint calls too) and answers.
 */
export function streamRoutes(): App {
  const app = group();
  register(app, createStreamRoute, async (c, input) => json(c, await streams.createStream(c.env, c.var.principal, input.body as StreamConfig), 201));
  register(app, deleteStreamRoute, async (c, { params }) => json(c, await streams.deleteStream(c.env, c.var.principal, params.stream)));
  register(app, describeStreamRoute, async (c, { params }) => json(c, await streams.describeStream(c.env, c.var.principal, params.stream)));
  register(app, listStreamsRoute, async (c) => json(c, await streams.listStreams(c.env, c.var.principal)));
  return app;
}
