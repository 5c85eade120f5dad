import { env, exports } from 'cloudflare:workers';
import { evictDurableObject } from 'cloudflare:test';
import type { ReplicaId } from '../../src/core/index.ts';
import { replicaObjectName } from '../../src/host/replica-object.ts';
import { TEST_ADMIN_TOKEN, TEST_CONFIG, TEST_TOKENS } from './test-config.ts';

export interface ApiResponse {
  readonly status: number;
  readonly body: any;
}

/** The token the tests send unless they say otherwise: it may write every stream (tokens are on in the workers tests). */
export const writer = { authorization: `Bearer ${TEST_TOKENS.writer}` };

/**
 * One HTTP request to the Worker, answered with its status and parsed JSON
 * body. It carries the writer token unless `headers` has an authorization
 * (an empty one sends none).
 */
export async function api(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<ApiResponse> {
  const withAuth: Record<string, string> = 'authorization' in headers ? { ...headers } : { ...writer, ...headers };
  if (withAuth.authorization === '') delete withAuth.authorization;
  const init: RequestInit = { method, headers: withAuth };
  if (body !== undefined) {
    init.body = typeof body === 'string' ? body : JSON.stringify(body);
    (init.headers as Record<string, string>)['content-type'] = 'application/json';
  }
  const res = await exports.default.fetch(`https://edgepaxos.test${path}`, init);
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // not JSON: the test will say so
  }
  return { status: res.status, body: parsed };
}

export const admin = { authorization: `Bearer ${TEST_ADMIN_TOKEN}` };

export function streamConfig(name: string) {
  const s = TEST_CONFIG.streams.find((x) => x.name === name);
  if (!s) throw new Error(`no test stream ${name}`);
  return s;
}

/** A replica's stub; pass the incarnation for a stream created at run time. */
export function replica(stream: string, id: ReplicaId, incarnation?: string) {
  return env.REPLICA.get(env.REPLICA.idFromName(replicaObjectName(stream, id, incarnation)));
}

export async function status(stream: string): Promise<any> {
  const res = await api('GET', `/v1/streams/${stream}/status`);
  if (res.status !== 200) throw new Error(`status ${res.status}: ${JSON.stringify(res.body)}`);
  return res.body;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Poll `check` until it returns a value (not undefined/false), or fail after `timeoutMs`. */
export async function eventually<T>(what: string, check: () => Promise<T | undefined | false>, timeoutMs = 10_000): Promise<T> {
  const start = Date.now();
  let last: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v !== undefined && v !== false) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() - start > timeoutMs) throw new Error(`${what}: not within ${timeoutMs} ms${last ? ` (last error: ${String(last)})` : ''}`);
    await sleep(25);
  }
}

/** Wait until the stream has a leader that every replica follows; returns its id. */
export async function stableLeader(stream: string, timeoutMs = 10_000): Promise<number> {
  return eventually(
    `a leader of '${stream}' followed by every replica`,
    async () => {
      const s = await status(stream);
      return s.leader_id !== null && s.nodes.every((n: any) => n.healthy) ? (s.leader_id as number) : undefined;
    },
    timeoutMs,
  );
}

/** Crash a replica the way the test runtime can: evict its Durable Object (storage is kept). */
export async function crash(stream: string, id: ReplicaId, incarnation?: string): Promise<void> {
  await evictDurableObject(replica(stream, id, incarnation)).catch(() => undefined); // not running: nothing to evict
}

export async function put(stream: string, key: string, value: string, headers: Record<string, string> = {}): Promise<number> {
  const res = await api('PUT', `/v1/streams/${stream}/kv/${encodeURIComponent(key)}`, { value }, headers);
  if (res.status !== 200) throw new Error(`put ${key}: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body.revision as number;
}
