import { Validator } from '@seriousme/openapi-schema-validator';
import { describe, expect, it } from 'vitest';
import { app } from '../../src/api/app.ts';

// Runs in the Node project (the validator compiles JSON schemas at run time,
// which workerd forbids), on the document the app itself serves.

async function served(): Promise<any> {
  const res = await app.request('/openapi.json');
  expect(res.status).toBe(200);
  return res.json();
}

describe('openapi', () => {
  it('openapi: the served document is valid OpenAPI 3.1', async () => {
    const doc = await served();
    expect(doc.openapi).toBe('3.1.0');
    const result = await new Validator().validate(doc);
    expect(result.errors ?? []).toEqual([]);
    expect(result.valid).toBe(true);
  });

  it('openapi: every route of the API is in the document, with its parameters, body and error codes', async () => {
    const doc = await served();
    const operations = Object.entries(doc.paths as Record<string, Record<string, any>>).flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`));
    expect(operations.sort()).toEqual(
      [
        'GET /',
        'PUT /v1/streams/{stream}/kv/{key}',
        'GET /v1/streams/{stream}/kv/{key}',
        'DELETE /v1/streams/{stream}/kv/{key}',
        'GET /v1/streams/{stream}/kv',
        'PUT /v1/streams/{stream}/key',
        'GET /v1/streams/{stream}/key',
        'DELETE /v1/streams/{stream}/key',
        'POST /v1/streams/{stream}/log',
        'GET /v1/streams/{stream}/log',
        'GET /v1/streams/{stream}/status',
        'GET /v1/status',
        'GET /v1/status/events',
        'GET /metrics',
        'GET /v1/streams/{stream}/snapshot',
        'POST /v1/streams/{stream}/restore',
        'POST /v1/streams/{stream}/chaos',
        'POST /v1/streams/{stream}/switchover',
        'POST /v1/streams/{stream}/step-down',
        'POST /v1/streams/{stream}/replicas/{id}/campaign',
        'PUT /v1/streams/{stream}/run-mode',
        'PUT /v1/streams/{stream}/work-mode',
        'POST /v1/streams/{stream}/snapshot',
        'GET /v1/streams/{stream}/replicas/{id}/health',
        'GET /v1/streams/{stream}/replicas/{id}/leader',
        'GET /v1/streams/{stream}/replicas/{id}/replica',
        'GET /v1/streams/{stream}/members',
        'POST /v1/streams/{stream}/members',
        'PATCH /v1/streams/{stream}/members/{id}',
        'DELETE /v1/streams/{stream}/members/{id}',
        'POST /v1/streams/{stream}/replicas/{id}/rebuild',
        'POST /v1/streams',
        'GET /v1/streams',
        'GET /v1/streams/{stream}',
        'DELETE /v1/streams/{stream}',
        'POST /v1/streams/{stream}/txn',
        'POST /v1/streams/{stream}/leases',
        'POST /v1/streams/{stream}/leases/{id}/keepalive',
        'GET /v1/streams/{stream}/leases/{id}',
        'DELETE /v1/streams/{stream}/leases/{id}',
        'GET /v1/streams/{stream}/watch',
        'POST /v1/streams/{stream}/locks/{name}',
        'DELETE /v1/streams/{stream}/locks/{name}',
        'POST /v1/streams/{stream}/elections/{name}/campaign',
        'GET /v1/streams/{stream}/elections/{name}',
        'POST /v1/streams/{stream}/elections/{name}/proclaim',
        'POST /v1/streams/{stream}/elections/{name}/resign',
        'POST /v1/keyspaces',
        'POST /v1/keyspaces/{keyspace}/grow',
        'GET /v1/keyspaces',
        'GET /v1/keyspaces/{keyspace}',
        'DELETE /v1/keyspaces/{keyspace}',
        'PUT /v1/keyspaces/{keyspace}/kv/{key}',
        'GET /v1/keyspaces/{keyspace}/kv/{key}',
        'DELETE /v1/keyspaces/{keyspace}/kv/{key}',
        'GET /v1/keyspaces/{keyspace}/kv',
        'POST /v1/keyspaces/{keyspace}/txn',
        'GET /v1/keyspaces/{keyspace}/status',
      ].sort(),
    );
    const put = doc.paths['/v1/streams/{stream}/kv/{key}'].put;
    expect(put.parameters.map((p: any) => `${p.in}:${p.name}`)).toEqual(expect.arrayContaining(['path:stream', 'path:key', 'header:idempotency-key']));
    const body = put.requestBody.content['application/json'].schema;
    const bodySchema = body.$ref ? doc.components.schemas[body.$ref.split('/').pop()] : body;
    expect(bodySchema.required).toEqual(['value']);
    expect(bodySchema.additionalProperties).toBe(false);
    expect(put.responses['409'].description).toContain('revision_mismatch');
    expect(put.responses['429'].description).toContain('overloaded');
    expect(doc.paths['/v1/streams/{stream}/log'].get.responses['410'].description).toContain('compacted');
    const list = doc.paths['/v1/streams/{stream}/kv'].get.parameters.map((p: any) => p.name);
    expect(list).toEqual(expect.arrayContaining(['prefix', 'limit', 'cursor', 'start_after', 'consistency']));
    expect(doc.components.securitySchemes.bearer).toMatchObject({ type: 'http', scheme: 'bearer' });
    const txn = doc.paths['/v1/streams/{stream}/txn'].post;
    expect(txn.responses['404'].description).toContain('lease_not_found');
    expect(doc.components.schemas.TxnBody.additionalProperties).toBe(false);
    const watch = doc.paths['/v1/streams/{stream}/watch'].get;
    expect(Object.keys(watch.responses['200'].content)).toEqual(['text/event-stream']);
    expect(watch.parameters.map((p: any) => p.name)).toEqual(expect.arrayContaining(['key', 'prefix', 'from_revision', 'last-event-id']));
    expect(watch.responses['410'].description).toContain('compacted');
    expect(doc.paths['/v1/streams/{stream}/locks/{name}'].post.responses['409'].description).toContain('lock_held');
    expect(doc.paths['/v1/streams/{stream}/kv/{key}'].delete.parameters.map((p: any) => p.name)).toContain('if_revision');
    expect(doc.paths['/v1/keyspaces/{keyspace}/txn'].post.responses['409'].description).toContain('txn_conflict');
    expect(doc.paths['/v1/keyspaces'].post.responses['409'].description).toContain('keyspace_exists');
  });

  it('openapi: /docs renders every operation of the document into one self-contained page that may load nothing', async () => {
    const doc = await served();
    const res = await app.request('/docs');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-security-policy')).toContain("default-src 'none'");
    const html = await res.text();
    for (const [path, ops] of Object.entries(doc.paths as Record<string, Record<string, unknown>>)) {
      for (const method of Object.keys(ops)) expect(html, `${method} ${path}`).toContain(`<span class="m ${method}">${method.toUpperCase()}</span> <code>${path}</code>`);
    }
    expect(html).not.toMatch(/<script|<link|src=/);
  });
});
