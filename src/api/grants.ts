import { z } from 'zod';
import { ConfigError } from '../host/config.ts';
import { ApiError } from './errors.ts';

/**
 * Who may do what. A grant is one token's right: some streams (or all, `*`),
 * optionally only the keys starting with `prefix`, at one access level
 * (`write` includes `read`; `admin` includes both and the admin routes).
 * Tokens come from the secret EDGEPAXOS_TOKENS; the older
 * EDGEPAXOS_ADMIN_TOKEN is an admin grant on every stream.
 *
 * A caller is a `Principal`: the grants its bearer token carries, a service
 * binding (a capability: whoever holds a binding to `EdgePaxos` may do every
 * data operation; to `EdgePaxosAdmin`, every operator control too), or
 * anonymous. An anonymous caller reads and writes data only
 * when no tokens are configured and EDGEPAXOS_PUBLIC_DATA is `on`; without
 * either, the data plane is closed.
 */

export type Access = 'read' | 'write' | 'admin';

const RANK: Readonly<Record<Access, number>> = { read: 0, write: 1, admin: 2 };

export interface Grant {
  readonly streams: '*' | readonly string[];
  /** Keys (and list prefixes) must start with this; '' covers every key. Log records are covered by the stream. */
  readonly prefix: string;
  readonly access: Access;
}

export type Principal =
  | { readonly kind: 'token'; readonly grants: readonly Grant[] }
  /**
   * A service binding: holding it is the right. To the `EdgePaxos`
   * entrypoint, every data operation on every stream; to `EdgePaxosAdmin`,
   * the operator controls too (admin).
   */
  | { readonly kind: 'binding'; readonly entrypoint: 'EdgePaxos' | 'EdgePaxosAdmin' }
  | {
      readonly kind: 'anonymous';
      /** EDGEPAXOS_TOKENS is set: every data request needs a token. */
      readonly tokensConfigured: boolean;
      /** EDGEPAXOS_PUBLIC_DATA is `on` (and no tokens are configured). */
      readonly publicData: boolean;
      /** Some token could authorise an admin route (so a missing one is 401, not 403 admin_disabled). */
      readonly adminConfigured: boolean;
    };

/** The caller of the data entrypoint (`EdgePaxos`). */
export const BINDING: Principal = Object.freeze({ kind: 'binding', entrypoint: 'EdgePaxos' });
/** The caller of the operator entrypoint (`EdgePaxosAdmin`): an operator who bound it on purpose. */
export const ADMIN_BINDING: Principal = Object.freeze({ kind: 'binding', entrypoint: 'EdgePaxosAdmin' });

const GrantSchema = z
  .object({
    token: z
      .string()
      .min(1)
      .refine((t) => !t.startsWith('sha256:') || /^sha256:[0-9a-f]{64}$/i.test(t), 'a hashed token is "sha256:" followed by 64 hex digits'),
    streams: z.union([z.literal('*'), z.array(z.string().min(1)).min(1)]),
    prefix: z.string().default(''),
    access: z.enum(['read', 'write', 'admin']),
  })
  .strict();

const TokensSchema = z.array(GrantSchema);

/** A configured grant with the SHA-256 of its token (tokens are compared by digest, in constant time). */
interface StoredGrant extends Grant {
  readonly digest: Uint8Array;
}

interface Credentials {
  readonly grants: readonly StoredGrant[];
  readonly admin: Uint8Array | null;
  readonly tokensConfigured: boolean;
  /**
   * Tokens already matched in this isolate, and what they carry: a request with
   * one of them skips the digest and the comparisons. Only tokens that matched
   * a grant are kept (a refused one never is), so it holds at most one entry per
   * configured token; it goes with these credentials when the secrets change.
   */
  readonly known: Map<string, Principal>;
}

const parsed = new Map<string, Promise<Credentials>>();
/** The secrets of the last lookup and their credentials: every request of an isolate sees the same ones. */
let last: { raw: unknown; admin: string | undefined; hit: Promise<Credentials> } | null = null;

/** EDGEPAXOS_TOKENS and EDGEPAXOS_ADMIN_TOKEN, parsed and hashed once per isolate. Throws ConfigError for invalid tokens. */
async function credentials(env: Cloudflare.Env): Promise<Credentials> {
  const raw = env.EDGEPAXOS_TOKENS;
  if (last !== null && last.raw === raw && last.admin === env.EDGEPAXOS_ADMIN_TOKEN) return last.hit;
  const key = JSON.stringify([typeof raw === 'string' ? raw : (raw ?? null), env.EDGEPAXOS_ADMIN_TOKEN ?? null]);
  let hit = parsed.get(key);
  if (!hit) {
    const loading = load(raw, env.EDGEPAXOS_ADMIN_TOKEN);
    parsed.set(key, loading);
    // A failed parse is answered every time, never cached as a success.
    loading.catch(() => {
      parsed.delete(key);
      if (last?.hit === loading) last = null;
    });
    hit = loading;
  }
  // Only a string is compared by value; an object (a test's env) is looked up by its JSON every time.
  last = typeof raw === 'string' || raw === undefined ? { raw, admin: env.EDGEPAXOS_ADMIN_TOKEN, hit } : null;
  return hit;
}

async function load(raw: unknown, adminToken: string | undefined): Promise<Credentials> {
  let grants: StoredGrant[] = [];
  const tokensConfigured = raw !== undefined && raw !== null && raw !== '';
  if (tokensConfigured) {
    let value: unknown = raw;
    if (typeof raw === 'string') {
      try {
        value = JSON.parse(raw);
      } catch {
        // The message must not quote the secret.
        throw new ConfigError('EDGEPAXOS_TOKENS is not valid JSON (a JSON array of grants is expected)');
      }
    }
    const result = TokensSchema.safeParse(value);
    if (!result.success) {
      const problems = result.error.issues.map((i) => `[${i.path.join('.')}]: ${i.message}`);
      throw new ConfigError(`EDGEPAXOS_TOKENS is invalid: ${problems.join('; ')}`);
    }
    grants = await Promise.all(
      result.data.map(async (g) => ({
        streams: g.streams,
        prefix: g.prefix,
        access: g.access,
        digest: g.token.startsWith('sha256:') ? fromHex(g.token.slice(7)) : await sha256(g.token),
      })),
    );
  }
  return { grants, admin: adminToken ? await sha256(adminToken) : null, tokensConfigured, known: new Map() };
}

/**
 * The caller of an HTTP request, from its `Authorization: Bearer` header.
 * A token that matches nothing is refused here (401), whatever the mode: a
 * caller who sends a token expects it to count.
 */
export async function principalOf(env: Cloudflare.Env, authorization: string | undefined): Promise<Principal> {
  const creds = await credentials(env);
  const adminConfigured = creds.admin !== null || creds.grants.some((g) => g.access === 'admin');
  if (authorization === undefined || authorization === '') {
    return { kind: 'anonymous', tokensConfigured: creds.tokensConfigured, publicData: !creds.tokensConfigured && env.EDGEPAXOS_PUBLIC_DATA === 'on', adminConfigured };
  }
  const match = /^Bearer +(\S+) *$/i.exec(authorization);
  if (!match) throw unauthorized('the Authorization header must be "Bearer <token>"');
  const token = match[1]!;
  const known = creds.known.get(token);
  if (known) return known;
  const digest = await sha256(token);
  // Every stored digest is compared, matched or not, so the time taken says nothing about which one matched.
  // (A token matched before is answered from `known` without any of this: only a caller holding a valid
  // token takes that path, and a refused token is never kept, so its time says nothing about the others.)
  const grants: Grant[] = [];
  for (const g of creds.grants) if (sameDigest(digest, g.digest)) grants.push({ streams: g.streams, prefix: g.prefix, access: g.access });
  if (creds.admin !== null && sameDigest(digest, creds.admin)) grants.push({ streams: '*', prefix: '', access: 'admin' });
  if (grants.length === 0) throw unauthorized('the bearer token is not one this Worker knows');
  const principal: Principal = Object.freeze({ kind: 'token', grants: Object.freeze(grants) });
  creds.known.set(token, principal);
  return principal;
}

/** What a request needs: access to a stream and, for key operations, to a key or every key under a list prefix. */
export interface Need {
  readonly stream: string;
  readonly access: Access;
  readonly key?: string;
  /** A list: every key starting with this must be covered (the grant's prefix must be a prefix of it). */
  readonly listPrefix?: string;
}

/**
 * Refuse (401, 403) unless `principal` may do `need`. Admin routes need an
 * admin grant without a key prefix: they act on the whole stream.
 */
export function authorize(principal: Principal, need: Need): void {
  if (principal.kind === 'binding') {
    // Capabilities by entrypoint: a data binding never reaches an operator control, whatever method calls one.
    if (need.access === 'admin' && principal.entrypoint !== 'EdgePaxosAdmin') {
      throw forbidden('a binding to the EdgePaxos entrypoint does data operations only; operator controls need a binding to EdgePaxosAdmin (docs/calling-from-workers.md)');
    }
    return;
  }
  if (principal.kind === 'anonymous') {
    if (need.access === 'admin') {
      if (!principal.adminConfigured) {
        throw new ApiError(403, 'admin_disabled', 'no admin token is configured: set the secret EDGEPAXOS_ADMIN_TOKEN (wrangler secret put EDGEPAXOS_ADMIN_TOKEN) or an admin grant in EDGEPAXOS_TOKENS');
      }
      throw unauthorized('this endpoint needs the header Authorization: Bearer <token> with an admin grant');
    }
    if (principal.tokensConfigured) throw unauthorized(`this request needs the header Authorization: Bearer <token> with a ${need.access} grant on stream '${need.stream}'`);
    if (principal.publicData) return;
    throw new ApiError(
      403,
      'data_access_disabled',
      'the data plane is closed: configure tokens (the secret EDGEPAXOS_TOKENS, see docs/security.md) or, to serve data to anyone, set the var EDGEPAXOS_PUBLIC_DATA=on',
    );
  }
  const onStream = principal.grants.filter((g) => g.streams === '*' || g.streams.includes(need.stream));
  if (onStream.length === 0) throw forbidden(`this token has no grant on stream '${need.stream}'`);
  const strongEnough = onStream.filter((g) => RANK[g.access] >= RANK[need.access]);
  if (strongEnough.length === 0) throw forbidden(`this token may only ${best(onStream)} stream '${need.stream}'; this request needs ${need.access} access`);
  if (need.access === 'admin') {
    if (strongEnough.some((g) => g.prefix === '')) return;
    throw forbidden(`admin routes act on the whole stream; this token's admin grant on '${need.stream}' is limited to keys starting with '${strongEnough[0]!.prefix}'`);
  }
  if (need.key !== undefined && !strongEnough.some((g) => need.key!.startsWith(g.prefix))) {
    throw forbidden(`key '${need.key}' is outside this token's ${need.access} grant on stream '${need.stream}' (keys starting with ${prefixes(strongEnough)})`);
  }
  if (need.listPrefix !== undefined && !strongEnough.some((g) => need.listPrefix!.startsWith(g.prefix))) {
    throw forbidden(`the list prefix '${need.listPrefix}' is not inside this token's grant on stream '${need.stream}' (keys starting with ${prefixes(strongEnough)}); ask for a prefix within it`);
  }
}

/**
 * The key prefixes `principal` may act on with `access` in `stream`, or null
 * when every key is covered (a binding, public data, a grant without a
 * prefix). For what the state machine checks itself at apply time (a lease's
 * attached keys, known only then).
 */
export function keyPrefixesOf(principal: Principal, stream: string, access: 'read' | 'write'): string[] | null {
  if (principal.kind !== 'token') return null;
  const grants = principal.grants.filter((g) => (g.streams === '*' || g.streams.includes(stream)) && RANK[g.access] >= RANK[access]);
  if (grants.some((g) => g.prefix === '')) return null;
  return [...new Set(grants.map((g) => g.prefix))];
}

/** Whether `principal` may read `stream` at all (the stream list shows only those). */
export function mayRead(principal: Principal, stream: string): boolean {
  try {
    authorize(principal, { stream, access: 'read' });
    return true;
  } catch {
    return false;
  }
}

function best(grants: readonly Grant[]): Access {
  return grants.reduce<Access>((a, g) => (RANK[g.access] > RANK[a] ? g.access : a), 'read');
}

function prefixes(grants: readonly Grant[]): string {
  return [...new Set(grants.map((g) => `'${g.prefix}'`))].join(' or ');
}

function unauthorized(message: string): ApiError {
  return new ApiError(401, 'unauthorized', message);
}

function forbidden(message: string): ApiError {
  return new ApiError(403, 'forbidden', message);
}

const encoder = new TextEncoder();

async function sha256(s: string): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.digest('SHA-256', encoder.encode(s)));
}

function fromHex(hex: string): Uint8Array {
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return out;
}

function sameDigest(a: Uint8Array, b: Uint8Array): boolean {
  return a.byteLength === b.byteLength && crypto.subtle.timingSafeEqual(a, b);
}
