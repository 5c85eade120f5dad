import type { WatchEvent, WatchFilter, WatchHub, WatchSink, Watcher } from './watch-hub.ts';

/**
 * A watch as a byte stream of Server-Sent Events, which is what crosses
 * Durable Object RPC (only byte streams can) and what the Worker answers
 * `GET /watch` with: each event is one `data:` line of JSON; the last event
 * of a revision, and every progress event, carry `id: <revision>` (the
 * revision is then complete: reconnecting with `from_revision` = id + 1, or
 * an EventSource's `Last-Event-ID`, loses and repeats nothing).
 *
 * The replica pushes events as it applies them; a timer sends a progress
 * event every `progressMs`, and ends the stream after `maxDurationMs` with a
 * final one (no invocation stays busy forever: clients reconnect from there).
 * A reader that falls more than `queueBytesMax` behind is cut off the same
 * way, so a stalled client cannot make the replica hold its events forever.
 */
export interface WatchStreamOptions {
  readonly maxDurationMs: number;
  readonly progressMs: number;
  readonly queueBytesMax: number;
}

export type WatchStreamOpen = { readonly kind: 'ok'; readonly stream: ReadableStream<Uint8Array> } | { readonly kind: 'compacted'; readonly firstRevision: number };

const encoder = new TextEncoder();

/** The SSE text of some events; `complete`: the revision they complete (its `id:` goes on the last one). */
export function encodeEvents(events: readonly WatchEvent[], complete: number | null): string {
  let out = '';
  events.forEach((e, i) => {
    if (complete !== null && i === events.length - 1) out += `id: ${complete}\n`;
    out += `data: ${JSON.stringify(e)}\n\n`;
  });
  return out;
}

/** Open a watch on `hub` as an SSE byte stream (or say the revisions asked for are compacted). */
export function openWatchStream(hub: WatchHub, filter: WatchFilter, fromRevision: number | undefined, appliedThrough: number, options: WatchStreamOptions): WatchStreamOpen {
  let controller!: ReadableStreamDefaultController<Uint8Array>;
  let watcher: Watcher | null = null;
  let progressTimer: ReturnType<typeof setTimeout> | undefined;
  let endTimer: ReturnType<typeof setTimeout> | undefined;
  let done = false;
  // Events sent before the stream's start ran (the replay) wait here.
  const early: Uint8Array[] = [];
  let started = false;

  const stopTimers = (): void => {
    if (progressTimer !== undefined) clearTimeout(progressTimer);
    if (endTimer !== undefined) clearTimeout(endTimer);
  };
  const sink: WatchSink = {
    send(events, complete) {
      if (done) return;
      const chunk = encoder.encode(encodeEvents(events, complete));
      if (!started) {
        early.push(chunk);
        return;
      }
      controller.enqueue(chunk);
      // A reader this far behind is cut off (after a final progress event it can reconnect from).
      if ((controller.desiredSize ?? 0) < -options.queueBytesMax && watcher) hub.close(watcher, false);
    },
    close() {
      if (done) return;
      done = true;
      stopTimers();
      if (started) controller.close();
    },
  };
  const opened = hub.open(filter, fromRevision, sink, appliedThrough);
  if (opened.kind === 'compacted') return opened;
  watcher = opened.watcher;
  const w = watcher;
  const tick = (): void => {
    if (done) return;
    hub.progress(w);
    progressTimer = setTimeout(tick, options.progressMs);
  };
  const stream = new ReadableStream<Uint8Array>(
    {
      start(c) {
        controller = c;
        started = true;
        for (const chunk of early) c.enqueue(chunk);
        early.length = 0;
        if (done) {
          c.close();
          return;
        }
        progressTimer = setTimeout(tick, options.progressMs);
        endTimer = setTimeout(() => hub.close(w, true), options.maxDurationMs);
      },
      cancel() {
        // The reader went away (the client disconnected): forget the watcher.
        done = true;
        stopTimers();
        hub.close(w, false);
      },
    },
    new ByteLengthQueuingStrategy({ highWaterMark: 64 * 1024 }),
  );
  return { kind: 'ok', stream };
}
