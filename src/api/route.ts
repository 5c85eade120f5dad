import { OpenAPIHono, type RouteConfig, z } from '@hono/zod-openapi';
import type { Context, MiddlewareHandler } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { ApiError } from './errors.ts';
import { type Access, type Principal, authorize, principalOf } from './grants.ts';
import { openStream } from './service.ts';
import type { StreamClient } from './stream-client.ts';
import { bodyTooLarge, parseInput, readJson, readQuery } from './validation.ts';

/** What every handler sees: the bindings, and what the middleware put on the context. */
export type AppEnv = {
  Bindings: Cloudflare.Env;
  Variables: {
    requestId: string;
    /** Who calls (set by `authenticate` on every /v1 route). */
    principal: Principal;
    /** The stream of the path, authorised and resolved once (set by `stream(access)`). */
    stream: StreamClient;
  };
};

export type App = OpenAPIHono<AppEnv>;

/** A route group (a sub-app): its routes are documented in its own registry and merged into the app's. */
export function group(): App {
  return new OpenAPIHono<AppEnv>();
}

type Out<S> = S extends z.ZodType ? z.output<S> : undefined;
type BodyOf<R> = R extends { request: { body: { content: { 'application/json': { schema: infer S } } } } } ? Out<S> : undefined;
type ParamsOf<R> = R extends { request: { params: infer S } } ? Out<S> : Record<string, never>;
type QueryOf<R> = R extends { request: { query: infer S } } ? Out<S> : Record<string, never>;

/** The validated input of a route, typed from its schemas. */
export interface Input<R> {
  readonly params: ParamsOf<R>;
  readonly query: QueryOf<R>;
  readonly body: BodyOf<R>;
}

/** A route: its OpenAPI description (whose zod schemas validate the request) and how large its body may be. */
export type Route = RouteConfig & {
  readonly middleware?: MiddlewareHandler<AppEnv>[];
  /** The largest body accepted, in bytes (routes with a JSON body only). */
  readonly bodyLimit?: (env: Cloudflare.Env) => number;
  /**
   * Parses the JSON body instead of the body schema, for a body whose schema
   * has its own parser and error messages (a stream definition); the
   * parser must use the documented schema.
   */
  readonly parseBody?: (json: unknown) => unknown;
};

const NO_QUERY = z.object({}).strict();
const SMALL_BODY_BYTES = 64 * 1024;

/**
 * Register `route` on `app`: its description goes into the OpenAPI document,
 * and the same schemas validate every request before `handler` runs. Bodies
 * are validated here rather than by zod-openapi's own validator, which would
 * refuse a JSON body sent without a JSON content type (as `curl -d` sends it)
 * and read invalid UTF-8 leniently. A route without a query schema takes no
 * query parameters: an unknown one is refused and named.
 */
export function register<R extends Route>(app: App, route: R, handler: (c: Context<AppEnv>, input: Input<R>) => Response | Promise<Response>): void {
  const { middleware = [], bodyLimit: bodyLimit_, parseBody, ...documented } = route;
  app.openAPIRegistry.registerPath(documented);
  const path = route.path.replace('{key}', ':key{.+}').replace(/\{(\w+)\}/g, ':$1');
  const request = route.request;
  const media = request?.body?.content?.['application/json'];
  const bodySchema = media && 'schema' in media ? media.schema : undefined;
  const limits: MiddlewareHandler<AppEnv>[] = bodySchema ? [limitBody((env) => bodyLimit_?.(env) ?? SMALL_BODY_BYTES)] : [];
  app.on([route.method.toUpperCase()], [path], ...middleware, ...limits, async (c: Context<AppEnv>) => {
    const params = request?.params ? parseInput(request.params as z.ZodType, c.req.param(), 'path') : {};
    // A route without query parameters, asked without any: nothing to validate.
    const query = request?.query === undefined && !c.req.url.includes('?') ? {} : readQuery(c, (request?.query as z.ZodType | undefined) ?? NO_QUERY);
    const limit = bodyLimit_?.(c.env) ?? SMALL_BODY_BYTES;
    const body = !(bodySchema instanceof z.ZodType) ? undefined : parseBody ? parseBody(await readJson(c, z.unknown(), limit)) : await readJson(c, bodySchema, limit);
    return handler(c, { params, query, body } as Input<R>);
  });
}

/** Hono's body limit (it stops reading a body as soon as it is too large), answered as our JSON error. */
function limitBody(limitOf: (env: Cloudflare.Env) => number): MiddlewareHandler<AppEnv> {
  return (c, next) => {
    const maxSize = limitOf(c.env);
    return bodyLimit({
      maxSize,
      onError: () => {
        throw bodyTooLarge(maxSize);
      },
    })(c, next);
  };
}

/** Sets the caller (`principal`) from the Authorization header; a token that matches nothing is refused here. */
export const authenticate: MiddlewareHandler<AppEnv> = async (c, next) => {
  c.set('principal', await principalOf(c.env, c.req.header('authorization')));
  await next();
};

/**
 * The stream named in the path, for a caller with `access` to it: refused
 * (401, 403) before anything is looked up, then resolved (configured, the
 * catalog, or created at run time; 404 otherwise) and put on the context.
 */
export function stream(access: Access): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const name = c.req.param('stream');
    if (name === undefined) throw new Error('stream(): the route has no {stream}');
    const client = (await openStream(c.env, c.get('principal'), name, access)).client;
    client.requestId = c.get('requestId');
    c.set('stream', client);
    await next();
  };
}

/** Refuses, before the body is read, a caller that holds no admin grant at all (the stream is only known from the body). */
export const adminCaller: MiddlewareHandler<AppEnv> = async (c, next) => {
  const principal = c.get('principal');
  if (principal.kind === 'anonymous') authorize(principal, { stream: '', access: 'admin' });
  if (principal.kind === 'token' && !principal.grants.some((g) => g.access === 'admin')) throw new ApiError(403, 'forbidden', 'this route needs an admin grant; this token has none');
  await next();
};

/** For admin routes outside a stream's path (the stream collection): refuse unless an admin may act on `name`. */
export function requireAdmin(c: Context<AppEnv>, name: string): void {
  authorize(c.get('principal'), { stream: name, access: 'admin' });
}

/** `c.json` for a route's documented answers (the handler's type is not tied to the schema; tests check the document). */
export function json(c: Context<AppEnv>, body: unknown, status: 200 | 201 | 202 = 200): Response {
  return c.json(body as object, status);
}

