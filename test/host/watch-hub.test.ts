import { describe, expect, it } from 'vitest';
import type { Command } from '../../src/core/index.ts';
import { KvStateMachine } from '../../src/kv/index.ts';
import { type WatchEvent, WatchHub, type WatchSink } from '../../src/host/watch-hub.ts';
import { encodeEvents, openWatchStream } from '../../src/host/watch-stream.ts';
import { watchEvents, watchForever } from '../../src/client/watch.ts';

/** A sink that records what it was sent, each batch with the revision it completes. */
function collector(): WatchSink & { batches: [WatchEvent[], number | null][]; closed: boolean; events(): WatchEvent[] } {
  return {
    batches: [],
    closed: false,
    send(events, complete) {
      this.batches.push([[...events], complete]);
    },
    close() {
      this.closed = true;
    },
    events() {
      return this.batches.flatMap(([e]) => e);
    },
  };
}

function replica(): { sm: KvStateMachine; hub: WatchHub; apply(c: Command): void } {
  const sm = new KvStateMachine();
  const hub = new WatchHub(0, { eventsMax: 5, bytesMax: 1000 });
  sm.listen(hub);
  return { sm, hub, apply: (c) => void sm.apply(sm.appliedThrough + 1, c) };
}

const put = (key: string, value = 'v'): Command => ({ kind: 'put', id: key, key, value });

describe('watch hub', () => {
  it('replays from a revision, then pushes each change once as it is applied, a revision\'s changes together', () => {
    const r = replica();
    r.apply(put('a/1'));
    r.apply(put('b/1'));
    const sink = collector();
    expect(r.hub.open({ prefix: 'a/' }, 1, sink, r.sm.appliedThrough).kind).toBe('ok');
    r.apply({ kind: 'txn', id: 't', compare: [], success: [{ put: { key: 'a/2', value: 'x' } }, { delete: { key: 'a/1' } }, { put: { key: 'b/2', value: 'y' } }], failure: [] });
    r.apply({ kind: 'delete', id: 'd', key: 'a/absent' }); // no change: no event
    expect(sink.batches).toEqual([
      [[{ type: 'put', key: 'a/1', value: 'v', revision: 1, create_revision: 1 }], 1],
      [[{ type: 'progress', revision: 2 }], 2],
      [
        [
          { type: 'put', key: 'a/2', value: 'x', revision: 3, create_revision: 3 },
          { type: 'delete', key: 'a/1', revision: 3 },
        ],
        3,
      ],
    ]);
    r.hub.advance(r.sm.appliedThrough); // as the host does after every input: slots without changes move progress too
    r.hub.progress();
    expect(sink.batches.at(-1)).toEqual([[{ type: 'progress', revision: 4 }], 4]);
  });

  it('watches one key exactly, not the keys it is a prefix of', () => {
    const r = replica();
    const sink = collector();
    r.hub.open({ key: 'k' }, undefined, sink, 0);
    r.apply(put('k'));
    r.apply(put('k2'));
    expect(sink.events().filter((e) => e.type !== 'progress')).toEqual([{ type: 'put', key: 'k', value: 'v', revision: 1, create_revision: 1 }]);
  });

  it('answers compacted for revisions it no longer holds, by count and after a restore', () => {
    const r = replica();
    for (let i = 1; i <= 8; i++) r.apply(put(`k${i}`));
    expect(r.hub.firstRevision).toBe(4); // five changes kept
    expect(r.hub.open({ prefix: '' }, 3, collector(), 8)).toEqual({ kind: 'compacted', firstRevision: 4 });
    const live = collector();
    const behind = collector();
    r.hub.open({ prefix: '' }, undefined, live, 8);
    r.hub.open({ prefix: '' }, 20, behind, 8); // waiting for revisions after the snapshot: unaffected
    const asked = collector();
    r.hub.open({ prefix: 'k' }, 4, asked, 8);
    // A snapshot through slot 12 replaces the state: watchers owed revisions 9-12 cannot get them.
    const other = new KvStateMachine();
    for (let i = 1; i <= 12; i++) other.apply(i, put(`k${i}`));
    r.sm.restore(other.snapshot());
    expect(live.batches.at(-1)).toEqual([[{ type: 'compacted', first_revision: 13 }], null]);
    expect(live.closed).toBe(true);
    expect(behind.closed).toBe(false);
    expect(r.hub.watcherCount).toBe(1);
  });

  it('closing a watch ends it with a final progress event', () => {
    const r = replica();
    const sink = collector();
    const opened = r.hub.open({ prefix: '' }, undefined, sink, 0);
    if (opened.kind !== 'ok') throw new Error('not opened');
    r.apply(put('a'));
    r.hub.close(opened.watcher, true);
    expect(sink.batches.at(-1)).toEqual([[{ type: 'progress', revision: 1 }], 1]);
    expect(sink.closed).toBe(true);
    expect(r.hub.watcherCount).toBe(0);
  });

  it('encodes events as SSE, the id on the last event of a revision and on progress', () => {
    expect(
      encodeEvents(
        [
          { type: 'delete', key: 'a', revision: 3 },
          { type: 'delete', key: 'b', revision: 3 },
        ],
        3,
      ),
    ).toBe('data: {"type":"delete","key":"a","revision":3}\n\nid: 3\ndata: {"type":"delete","key":"b","revision":3}\n\n');
  });
});

describe('watch stream and the client\'s reconnecting reader', () => {
  it('a stream carries the replay and the live changes, and its reader parses them back', async () => {
    const r = replica();
    r.apply(put('x/1'));
    const opened = openWatchStream(r.hub, { prefix: 'x/' }, 1, r.sm.appliedThrough, { maxDurationMs: 60_000, progressMs: 60_000, queueBytesMax: 1 << 20 });
    if (opened.kind !== 'ok') throw new Error('not opened');
    r.apply(put('x/2'));
    const seen: WatchEvent[] = [];
    for await (const e of watchEvents(opened.stream)) {
      seen.push(e);
      if (seen.length === 3) break;
    }
    expect(seen.map((e) => `${e.type}@${'revision' in e ? e.revision : ''}`)).toEqual(['put@1', 'progress@1', 'put@2']);
    expect(r.hub.watcherCount).toBe(0); // the reader stopped: the stream was cancelled and the watcher forgotten
  });

  it('watchForever reconnects after the last complete revision and skips what it delivered of a revision cut in the middle', async () => {
    // Connection 1 ends after the first of revision 5's two events; connection 2 replays from 5.
    const connections: string[][] = [
      ['id: 3\ndata: {"type":"progress","revision":3}\n\n', 'id: 4\ndata: {"type":"put","key":"a","value":"1","revision":4,"create_revision":4}\n\n', 'data: {"type":"delete","key":"a","revision":5}\n\n'],
      [
        'data: {"type":"delete","key":"a","revision":5}\n\nid: 5\ndata: {"type":"delete","key":"b","revision":5}\n\n',
        'id: 7\ndata: {"type":"progress","revision":7}\n\n',
      ],
      [],
    ];
    const asked: (number | undefined)[] = [];
    const api = {
      async watch(_stream: string, opts: { fromRevision?: number }) {
        asked.push(opts.fromRevision);
        const chunks = connections.shift() ?? [];
        return new ReadableStream<Uint8Array>({
          start(c) {
            for (const chunk of chunks) c.enqueue(new TextEncoder().encode(chunk));
            c.close();
          },
        });
      },
    };
    const stop = new AbortController();
    const reconnects: (number | undefined)[] = [];
    const onReconnect = (from: number | undefined): void => {
      reconnects.push(from);
      if (reconnects.length === 2) stop.abort();
    };
    const got: string[] = [];
    for await (const e of watchForever(api, 's', { prefix: '', signal: stop.signal, onReconnect })) {
      got.push(e.type === 'progress' ? `progress@${e.revision}` : e.type === 'compacted' ? 'compacted' : `${e.type} ${e.key}@${e.revision}`);
    }
    expect(got).toEqual(['progress@3', 'put a@4', 'delete a@5', 'delete b@5', 'progress@7']);
    expect(asked).toEqual([undefined, 5]);
    expect(reconnects).toEqual([5, 8]);
  });
});
