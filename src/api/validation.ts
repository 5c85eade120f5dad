import type { Context } from 'hono';
import { z } from '@hono/zod-openapi';
import { ApiError } from './errors.ts';

export const MAX_KEY_BYTES = 1024;
export const DEFAULT_MAX_VALUE_BYTES = 1024 * 1024;
/** Room for the JSON around a value: field names, other fields, whitespace. */
const BODY_OVERHEAD_BYTES = 16 * 1024;
/**
 * JSON escapes one byte of a string as at most six (`\u0000`), so a value of
 * the maximum size may arrive in a body up to six times larger. The value
 * limit is checked on the parsed value; the body limit only stops bodies that
 * cannot hold a value within it.
 */
const JSON_ESCAPE_FACTOR = 6;
export const MAX_IDEMPOTENCY_KEY_CHARS = 256;
/**
 * Lists and log reads: at most this many items a page, and this many when
 * not asked. Here, in a module that imports nothing of the API, because the
 * route schemas read them when their modules load (a constant of a module in
 * an import cycle may not be set yet then).
 */
export const LIST_LIMIT_MAX = 1000;
export const LIST_LIMIT_DEFAULT = 100;

const utf8 = new TextEncoder();
const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false });

export function byteLength(s: string): number {
  return utf8.encode(s).length;
}

export function maxValueBytes(env: Cloudflare.Env): number {
  const raw = env.EDGEPAXOS_MAX_VALUE_BYTES;
  const n = raw !== undefined && /^[0-9]+$/.test(raw) ? Number(raw) : DEFAULT_MAX_VALUE_BYTES;
  return Number.isSafeInteger(n) && n > 0 ? n : DEFAULT_MAX_VALUE_BYTES;
}

/** The largest body a request carrying a value of at most `maxValue` bytes can need. */
export function bodyLimitFor(maxValue: number): number {
  return JSON_ESCAPE_FACTOR * maxValue + BODY_OVERHEAD_BYTES;
}

export function checkKey(key: string | undefined): string {
  if (key === undefined || key.length === 0) throw new ApiError(400, 'invalid_key', 'the key must not be empty');
  if (byteLength(key) > MAX_KEY_BYTES) {
    throw new ApiError(400, 'invalid_key', `the key is ${byteLength(key)} bytes; keys are at most ${MAX_KEY_BYTES} bytes`);
  }
  return key;
}

export function checkValueSize(value: string, maxValue: number, field: string): void {
  const n = byteLength(value);
  if (n > maxValue) throw new ApiError(413, 'value_too_large', `${field} is ${n} bytes; the limit is ${maxValue} bytes`);
}

/**
 * The request body as JSON validated by `schema`. Any content type is read as
 * JSON (curl's `-d` sends a form type). The body must be valid UTF-8: a byte
 * sequence that is not would otherwise be stored as U+FFFD.
 */
export async function readJson<T extends z.ZodType>(c: Context, schema: T, limit: number): Promise<z.output<T>> {
  const declared = c.req.header('content-length');
  if (declared !== undefined && /^[0-9]+$/.test(declared) && Number(declared) > limit) throw bodyTooLarge(limit);
  const bytes = new Uint8Array(await c.req.arrayBuffer());
  if (bytes.byteLength > limit) throw bodyTooLarge(limit);
  let text: string;
  try {
    text = strictUtf8.decode(bytes);
  } catch {
    throw new ApiError(400, 'invalid_json', 'the body is not valid UTF-8');
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new ApiError(400, 'invalid_json', text.trim() === '' ? 'the body is empty; a JSON object is required' : 'the body is not valid JSON');
  }
  return parseInput(schema, json, 'body');
}

export function bodyTooLarge(limit: number): ApiError {
  return new ApiError(413, 'payload_too_large', `the body is over ${limit} bytes, more than any value within the limit can need`);
}

/**
 * Query parameters validated by `schema`. A parameter given twice is refused
 * unless both values agree (first-wins would let `limit=5&limit=-1` mean
 * whatever a proxy in between decided).
 */
export function readQuery<T extends z.ZodType>(c: Context, schema: T): z.output<T> {
  const all = c.req.queries();
  const single: Record<string, string> = {};
  for (const [name, values] of Object.entries(all)) {
    if (new Set(values).size > 1) throw new ApiError(400, 'invalid_request', `query parameter '${name}' is given more than once with different values`);
    single[name] = values[0]!;
  }
  return parseInput(schema, single, 'query');
}

/** Where an input came from, to name it in error messages. */
export type InputPart = 'body' | 'query' | 'path' | 'argument';

export function parseInput<T extends z.ZodType>(schema: T, value: unknown, part: InputPart): z.output<T> {
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw new ApiError(400, 'invalid_request', describeIssues(parsed.error, part));
  return parsed.data;
}

export function describeIssues(error: z.ZodError, part: InputPart): string {
  const noun = part === 'query' ? 'query parameter' : part === 'path' ? 'path parameter' : 'field';
  return error.issues
    .map((i) => {
      if (i.code === 'unrecognized_keys') return `unknown ${noun}${i.keys.length > 1 ? 's' : ''} ${i.keys.map((k) => `'${k}'`).join(', ')}`;
      if (part === 'argument' && typeof i.path[0] === 'number') {
        const rest = i.path.slice(1).join('.');
        return `argument ${i.path[0] + 1}${rest ? ` (${rest})` : ''}: ${i.message}`;
      }
      const where = i.path.length > 0 ? `${part === 'query' ? 'query parameter ' : part === 'path' ? 'path parameter ' : ''}${i.path.join('.')}` : part;
      return `${where}: ${i.message}`;
    })
    .join('; ');
}

export function idempotencyKeyOf(raw: string | undefined): string | undefined {
  if (raw === undefined) return undefined;
  if (raw.length === 0 || raw.length > MAX_IDEMPOTENCY_KEY_CHARS) {
    throw new ApiError(400, 'invalid_idempotency_key', `Idempotency-Key must be 1 to ${MAX_IDEMPOTENCY_KEY_CHARS} characters`);
  }
  return raw;
}

/**
 * A whole number written in plain decimal digits, as query and path numbers
 * must be: `0x10`, `1e2`, `1.0`, ` 5` and `+5` are refused, not read as numbers.
 */
export function decimal(min: number, max: number) {
  return z
    .string()
    .regex(/^[0-9]{1,15}$/, 'must be a whole number in plain decimal digits')
    .transform(Number)
    .pipe(z.number().int().min(min).max(max));
}
