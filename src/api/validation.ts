import type { Context } from 'hono';
import { z } from 'zod';
import { ApiError } from './errors.ts';

export const MAX_KEY_BYTES = 1024;
export const DEFAULT_MAX_VALUE_BYTES = 1024 * 1024;
/** Room for the JSON around a value of the maximum size. */
const BODY_OVERHEAD_BYTES = 16 * 1024;
export const MAX_IDEMPOTENCY_KEY_CHARS = 256;

const utf8 = new TextEncoder();

export function byteLength(s: string): number {
  return utf8.encode(s).length;
}

export function maxValueBytes(env: Cloudflare.Env): number {
  const n = Number(env.EDGEPAXOS_MAX_VALUE_BYTES ?? DEFAULT_MAX_VALUE_BYTES);
  return Number.isInteger(n) && n > 0 ? n : DEFAULT_MAX_VALUE_BYTES;
}

export function checkKey(key: string | undefined): string {
  if (key === undefined || key.length === 0) throw new ApiError(400, 'invalid_key', 'the key must not be empty');
  if (byteLength(key) > MAX_KEY_BYTES) {
    throw new ApiError(400, 'invalid_key', `the key is ${byteLength(key)} bytes; keys are at most ${MAX_KEY_BYTES} bytes`);
  }
  return key;
}

/** The request body as JSON validated by `schema`; size is checked before parsing. */
export async function readJson<T extends z.ZodType>(c: Context, schema: T, maxValue: number): Promise<z.infer<T>> {
  const limit = maxValue + BODY_OVERHEAD_BYTES;
  const declared = Number(c.req.header('content-length'));
  if (Number.isFinite(declared) && declared > limit) {
    throw new ApiError(413, 'payload_too_large', `the body is ${declared} bytes; at most ${limit} are accepted (values up to ${maxValue} bytes)`);
  }
  const text = await c.req.text();
  if (byteLength(text) > limit) {
    throw new ApiError(413, 'payload_too_large', `the body is over ${limit} bytes (values up to ${maxValue} bytes)`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new ApiError(400, 'invalid_json', text.trim() === '' ? 'the body is empty; a JSON object is required' : 'the body is not valid JSON');
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) throw new ApiError(400, 'invalid_request', describeIssues(parsed.error));
  return parsed.data;
}

/** Query parameters validated by `schema`. */
export function readQuery<T extends z.ZodType>(c: Context, schema: T): z.infer<T> {
  const parsed = schema.safeParse(c.req.query());
  if (!parsed.success) throw new ApiError(400, 'invalid_request', describeIssues(parsed.error));
  return parsed.data;
}

export function describeIssues(error: z.ZodError): string {
  return error.issues
    .map((i) => {
      const where = i.path.length > 0 ? i.path.join('.') : 'body';
      return `${where}: ${i.message}`;
    })
    .join('; ');
}

export function idempotencyKey(c: Context): string | undefined {
  const k = c.req.header('idempotency-key');
  if (k === undefined) return undefined;
  if (k.length === 0 || k.length > MAX_IDEMPOTENCY_KEY_CHARS) {
    throw new ApiError(400, 'invalid_idempotency_key', `Idempotency-Key must be 1 to ${MAX_IDEMPOTENCY_KEY_CHARS} characters`);
  }
  return k;
}

export function checkValueSize(value: string, maxValue: number, field: string): void {
  const n = byteLength(value);
  if (n > maxValue) throw new ApiError(413, 'value_too_large', `${field} is ${n} bytes; the limit is ${maxValue} bytes`);
}
