/**
 * Reading watches: the SSE stream a watch returns (over HTTP or RPC), parsed
 * into events, and `watchForever`, which reconnects when a connection ends
 * (the server closes each after a few minutes; a replica may crash) with
 * `from_revision` right after the last complete revision, so the caller sees
 * every change once, in order, across connections.
 *
 * No imports from the Worker: this runs in any JavaScript runtime.
 */
import { EdgePaxosError, isEdgePaxosError } from './error.ts';
import type { DataApi, WatchEvent, WatchOptions } from './types.ts';

/** One SSE event: its data (parsed JSON) and its `id:` (what it completes: a stream's revision, a keyspace watch's cursor), if any. */
export interface SseEvent<E = WatchEvent> {
  readonly data: E;
  readonly id: string | null;
}

/** The events of an SSE byte stream, as they arrive (a truncated last event is dropped). */
export async function* readSse<E = WatchEvent>(stream: ReadableStream<Uint8Array>, signal?: AbortSignal): AsyncGenerator<SseEvent<E>> {
  const reader = stream.getReader();
  // An abort cancels the read in progress (a quiet stream may not deliver anything for a long time).
  const stop = (): void => void reader.cancel().catch(() => undefined);
  signal?.addEventListener('abort', stop, { once: true });
  const decoder = new TextDecoder();
  let buffer = '';
  try {
    for (;;) {
      let chunk: Awaited<ReturnType<typeof reader.read>>;
      try {
        chunk = await reader.read();
      } catch (e) {
        // Cancelling a stream that crossed Durable Object RPC rejects the read in progress ("Stream was cancelled"): our own abort ends it quietly.
        if (signal?.aborted) return;
        throw e;
      }
      const { value, done } = chunk;
      if (done) return;
      buffer += decoder.decode(value, { stream: true });
      let end: number;
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        let data = '';
        let id: string | null = null;
        for (const line of block.split('\n')) {
          if (line.startsWith('data:')) data += line.slice(line.startsWith('data: ') ? 6 : 5);
          else if (line.startsWith('id:')) id = line.slice(3).trim();
        }
        if (data !== '') yield { data: JSON.parse(data) as E, id };
      }
    }
  } finally {
    signal?.removeEventListener('abort', stop);
    // Stop the stream when the caller stops reading (the server then forgets the watch).
    reader.cancel().catch(() => undefined);
  }
}

/** The events of one watch connection (what `watch` returned), in order, until it ends (or `signal` aborts). */
export async function* watchEvents(stream: ReadableStream<Uint8Array>, signal?: AbortSignal): AsyncGenerator<WatchEvent> {
  for await (const e of readSse(stream, signal)) yield e.data;
}

export interface WatchForeverOptions extends WatchOptions {
  /** Stop watching (the generator returns). */
  readonly signal?: AbortSignal;
  /** Called before each reconnection, with why the previous connection ended. */
  readonly onReconnect?: (fromRevision: number | undefined, reason: unknown) => void;
}

/**
 * Every change under a key or prefix, for as long as the caller reads (or
 * until `signal` aborts): reconnects whenever a connection ends, from the
 * revision after the last complete one, and skips the events of a revision
 * it had already delivered in part. Progress events are passed on; a
 * `compacted` event is passed on and ends the generator (the caller must
 * read the current state and watch again from there). Errors that retrying
 * cannot fix (forbidden, invalid) are thrown; others are retried with a
 * backoff of up to 5 s.
 */
export async function* watchForever(api: Pick<DataApi, 'watch'>, stream: string, opts: WatchForeverOptions): AsyncGenerator<WatchEvent> {
  const { signal, onReconnect, ...watch } = opts;
  // Every event below `next` was delivered, and `partial` of revision `next` itself (a connection
  // that ended inside a revision's events: its replay skips those).
  let next = watch.fromRevision;
  let partial = 0;
  let backoffMs = 100;
  while (!signal?.aborted) {
    let skip = partial;
    let reason: unknown = 'the server closed the connection';
    let delivered = false;
    try {
      const body = await api.watch(stream, { ...watch, ...(next !== undefined ? { fromRevision: next } : {}) });
      for await (const { data, id: idText } of readSse(body, signal)) {
        const revisionId = idText === null ? NaN : Number(idText);
        const id = Number.isSafeInteger(revisionId) ? revisionId : null;
        delivered = true;
        backoffMs = 100;
        if (data.type === 'compacted') {
          yield data;
          return;
        }
        if (data.type === 'progress') {
          if (next === undefined || data.revision + 1 > next) {
            next = data.revision + 1;
            partial = 0;
          }
          yield data;
          continue;
        }
        if (next !== undefined && data.revision < next) continue;
        if (next !== undefined && data.revision === next && skip > 0) {
          skip -= 1;
          continue;
        }
        if (next === undefined || data.revision > next) {
          next = data.revision;
          partial = 0;
        }
        yield data;
        partial += 1;
        if (id !== null) {
          next = id + 1;
          partial = 0;
        }
      }
    } catch (e) {
      if (signal?.aborted) return;
      if (isEdgePaxosError(e) && e.code === 'compacted') {
        yield { type: 'compacted', first_revision: Number(e.details.first_revision) };
        return;
      }
      if (isEdgePaxosError(e) && e.status >= 400 && e.status < 500 && e.status !== 429) throw e;
      reason = e;
    }
    if (!delivered) {
      // Nothing came (an error, or a connection that ended at once): wait before trying again.
      await sleep(backoffMs, signal);
      backoffMs = Math.min(5000, backoffMs * 2);
    }
    if (signal?.aborted) return;
    onReconnect?.(next, reason);
  }
}

/** Wait `ms`, or less if `signal` aborts (the reconnect back-off of both watch helpers). */
export function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener(
      'abort',
      () => {
        clearTimeout(timer);
        resolve();
      },
      { once: true },
    );
  });
}

export { EdgePaxosError };
