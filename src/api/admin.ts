import type { Context } from 'hono';
import { ApiError } from './errors.ts';

const encoder = new TextEncoder();

/**
 * Admin endpoints need `Authorization: Bearer <EDGEPAXOS_ADMIN_TOKEN>`. A Worker
 * with no token configured refuses every admin call (so a deployment never
 * runs with an open admin API by accident).
 */
export function requireAdmin(c: Context<{ Bindings: Cloudflare.Env }>): void {
  const token = c.env.EDGEPAXOS_ADMIN_TOKEN;
  if (!token) {
    throw new ApiError(403, 'admin_disabled', 'no admin token is configured: set the secret EDGEPAXOS_ADMIN_TOKEN (wrangler secret put EDGEPAXOS_ADMIN_TOKEN)');
  }
  const header = c.req.header('authorization') ?? '';
  const match = /^Bearer (.+)$/.exec(header);
  if (!match || !sameSecret(match[1]!, token)) {
    throw new ApiError(401, 'unauthorized', 'this endpoint needs the header Authorization: Bearer <admin token>');
  }
}

function sameSecret(given: string, expected: string): boolean {
  const a = encoder.encode(given);
  const b = encoder.encode(expected);
  if (a.byteLength !== b.byteLength) return false;
  return crypto.subtle.timingSafeEqual(a, b);
}
