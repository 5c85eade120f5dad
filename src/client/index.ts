/**
 * A typed client of edgepaxos's HTTP API for any JavaScript runtime with
 * `fetch` (browsers, Node, Deno, Bun, Workers). It throws EdgePaxosError for
 * every error answer, as the RPC entrypoint does, so code written against one
 * reads the same against the other (both implement `DataApi`).
 *
 * It imports nothing from the Worker's runtime code: types only.
 *
 * ```ts
 * import { EdgePaxosClient } from 'edgepaxos/client';
 * const paxos = new EdgePaxosClient({ url: 'http://localhost:8787', token: process.env.EDGEPAXOS_TOKEN });
 * const { revision } = await paxos.put('default', 'greeting', 'hello');
 * ```
 */
import { EdgePaxosError } from './error.ts';
import type {
  AppendOptions,
  AppendResult,
  DataApi,
  DeleteOptions,
  DeleteResult,
  GetOptions,
  KvItem,
  ListOptions,
  ListResult,
  PutOptions,
  PutResult,
  ReadOptions,
  ReadResult,
  StreamStatus,
} from './types.ts';

export { EdgePaxosError, isEdgePaxosError } from './error.ts';
export type * from './types.ts';

export interface ClientOptions {
  /** Where the Worker answers, e.g. `http://localhost:8787` or `https://edgepaxos.example.workers.dev`. */
  readonly url: string;
  /** A bearer token of EDGEPAXOS_TOKENS (or the admin token); none when the data plane is public. */
  readonly token?: string;
  /** The fetch to use (default: the global one); a Worker may pass a service binding's `fetch`. */
  readonly fetch?: (input: string, init: RequestInit) => Promise<Response>;
}

/** One row of `GET /v1/streams`. */
export interface StreamSummary {
  readonly name: string;
  readonly kind: 'configured' | 'system' | 'dynamic';
  readonly replicas: readonly number[];
  readonly leader_id: number | null;
  readonly leader_region: string | null;
  readonly state?: string;
}

type Query = Record<string, string | number | undefined>;

export class EdgePaxosClient implements DataApi {
  private readonly base: string;
  private readonly token: string | undefined;
  private readonly doFetch: (input: string, init: RequestInit) => Promise<Response>;

  constructor(options: ClientOptions) {
    this.base = options.url.replace(/\/+$/, '');
    this.token = options.token;
    this.doFetch = options.fetch ?? ((input, init) => fetch(input, init));
  }

  // Keys travel as the `key` query parameter (`/key?key=`), so any key works, `.` and `..` segments included.

  async put(stream: string, key: string, value: string, opts: PutOptions = {}): Promise<PutResult> {
    const body = { value, ...(opts.ifRevision !== undefined ? { if_revision: opts.ifRevision } : {}) };
    return this.request('PUT', `${streamPath(stream)}/key`, { key }, body, opts.idempotencyKey);
  }

  async get(stream: string, key: string, opts: GetOptions = {}): Promise<KvItem | null> {
    try {
      return await this.request<KvItem>('GET', `${streamPath(stream)}/key`, { key, consistency: opts.consistency });
    } catch (e) {
      if (e instanceof EdgePaxosError && e.code === 'not_found') return null;
      throw e;
    }
  }

  async delete(stream: string, key: string, opts: DeleteOptions = {}): Promise<DeleteResult> {
    return this.request('DELETE', `${streamPath(stream)}/key`, { key }, undefined, opts.idempotencyKey);
  }

  async list(stream: string, opts: ListOptions = {}): Promise<ListResult> {
    return this.request('GET', `${streamPath(stream)}/kv`, {
      prefix: opts.prefix,
      limit: opts.limit,
      cursor: opts.cursor,
      start_after: opts.startAfter,
      consistency: opts.consistency,
    });
  }

  async append(stream: string, data: string, opts: AppendOptions = {}): Promise<AppendResult> {
    return this.request('POST', `${streamPath(stream)}/log`, {}, { data }, opts.idempotencyKey);
  }

  async read(stream: string, opts: ReadOptions = {}): Promise<ReadResult> {
    return this.request('GET', `${streamPath(stream)}/log`, { from: opts.from, limit: opts.limit });
  }

  async status(stream: string): Promise<StreamStatus> {
    return this.request('GET', `${streamPath(stream)}/status`, {});
  }

  /** The streams this client's token may read, with their leaders. */
  async streams(): Promise<{ streams: StreamSummary[]; catalog_error: string | null }> {
    return this.request('GET', '/v1/streams', {});
  }

  /**
   * One request; every answer that is not 2xx becomes an EdgePaxosError with
   * the API's code (or `http_<status>` when the answer is not the API's JSON).
   */
  private async request<T>(method: string, path: string, query: Query, body?: unknown, idempotencyKey?: string): Promise<T> {
    const search = new URLSearchParams();
    for (const [name, value] of Object.entries(query)) if (value !== undefined) search.set(name, String(value));
    const qs = search.toString();
    const headers: Record<string, string> = {};
    if (this.token !== undefined) headers.authorization = `Bearer ${this.token}`;
    if (idempotencyKey !== undefined) headers['idempotency-key'] = idempotencyKey;
    if (body !== undefined) headers['content-type'] = 'application/json';
    const res = await this.doFetch(`${this.base}${path}${qs ? `?${qs}` : ''}`, {
      method,
      headers,
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    const text = await res.text();
    let json: unknown;
    try {
      json = text === '' ? undefined : JSON.parse(text);
    } catch {
      json = undefined;
    }
    if (res.ok) return json as T;
    const error = (json as { error?: { code?: unknown; message?: unknown } } | undefined)?.error;
    if (error && typeof error.code === 'string' && typeof error.message === 'string') {
      const { code, message, ...details } = error as Record<string, unknown> & { code: string; message: string };
      throw new EdgePaxosError(code, message, res.status, details);
    }
    throw new EdgePaxosError(`http_${res.status}`, text.slice(0, 200) || res.statusText, res.status);
  }
}

function streamPath(stream: string): string {
  return `/v1/streams/${encodeURIComponent(stream)}`;
}
