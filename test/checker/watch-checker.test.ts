import { describe, expect, it } from 'vitest';
import type { KvChange } from '../../src/kv/index.ts';
import { type WatchedEvent, checkWatch, checkWatchAgainstWrites } from '../../sim/checker/watch-checker.ts';

// Slot 1: put a; 2: nothing; 3: a transaction (put b, delete a); 4: put other; 5: put a.
const slots: KvChange[][] = [
  [{ type: 'put', key: 'w/a', value: '1', revision: 1, createRevision: 1 }],
  [],
  [
    { type: 'put', key: 'w/b', value: '2', revision: 3, createRevision: 3 },
    { type: 'delete', key: 'w/a', revision: 3 },
  ],
  [{ type: 'put', key: 'x', value: '3', revision: 4, createRevision: 4 }],
  [{ type: 'put', key: 'w/a', value: '4', revision: 5, createRevision: 5 }],
];
const changesAt = (r: number) => slots[r - 1];
const put = (key: string, value: string, revision: number): WatchedEvent => ({ type: 'put', key, value, revision });
const del = (key: string, revision: number): WatchedEvent => ({ type: 'delete', key, revision });
const progress = (revision: number): WatchedEvent => ({ type: 'progress', revision });
const full = [put('w/a', '1', 1), put('w/b', '2', 3), del('w/a', 3), progress(4), put('w/a', '4', 5), progress(5)];

describe('watch checker: against every slot\'s changes', () => {
  it('accepts every change once, in order, with progress events between', () => {
    expect(checkWatch({ filter: { prefix: 'w/' }, from: 1, events: full }, changesAt)).toEqual({ ok: true, delivered: 4, coveredThrough: 5 });
    expect(checkWatch({ filter: { key: 'w/a' }, from: undefined, events: [progress(2), del('w/a', 3), put('w/a', '4', 5)] }, changesAt)).toMatchObject({ ok: true, delivered: 2 });
    // A stream may stop anywhere, even inside a revision's events, if no progress claimed more.
    expect(checkWatch({ filter: { prefix: 'w/' }, from: 1, events: full.slice(0, 2) }, changesAt)).toMatchObject({ ok: true });
  });

  it('rejects a change missing before a progress event that covers it', () => {
    const v = checkWatch({ filter: { prefix: 'w/' }, from: 1, events: [put('w/a', '1', 1), put('w/b', '2', 3), progress(4)] }, changesAt);
    expect(v).toEqual({ ok: false, message: expect.stringContaining('delete w/a@3') });
  });

  it('rejects a change delivered twice, out of order, or one that never happened', () => {
    expect(checkWatch({ filter: { prefix: 'w/' }, from: 1, events: [put('w/a', '1', 1), put('w/a', '1', 1)] }, changesAt)).toEqual({ ok: false, message: expect.stringContaining('twice') });
    expect(checkWatch({ filter: { prefix: 'w/' }, from: 1, events: [put('w/b', '2', 3), put('w/a', '1', 1)] }, changesAt)).toMatchObject({ ok: false });
    expect(checkWatch({ filter: { prefix: 'w/' }, from: 1, events: [put('w/a', 'phantom', 1)] }, changesAt)).toMatchObject({ ok: false });
    expect(checkWatch({ filter: { prefix: 'w/' }, from: 1, events: [put('x', '3', 4)] }, changesAt)).toMatchObject({ ok: false });
  });

  it('rejects an event at or below a progress revision already sent', () => {
    const v = checkWatch({ filter: { prefix: 'w/' }, from: 3, events: [progress(3), put('w/b', '2', 3)] }, changesAt);
    expect(v).toMatchObject({ ok: false });
  });
});

describe('watch checker: against the clients\' writes', () => {
  const writes = [
    { type: 'put' as const, key: 'w/a', value: '1', revision: 1 },
    { type: 'put' as const, key: 'w/b', value: '2', revision: 3 },
    { type: 'delete' as const, key: 'w/a', revision: 3, deleted: true },
    { type: 'put' as const, key: 'w/a', value: '4' }, // outcome unknown
    { type: 'delete' as const, key: 'w/c', revision: 6, deleted: false }, // no change, no event
  ];

  it('accepts the acknowledged changes and unknown-outcome ones that happened', () => {
    expect(checkWatchAgainstWrites({ filter: { prefix: 'w/' }, from: 1, events: [...full, progress(7)] }, writes)).toMatchObject({ ok: true, delivered: 4 });
  });

  it('rejects an acknowledged change missing below the last progress, a duplicate, and a phantom', () => {
    expect(checkWatchAgainstWrites({ filter: { prefix: 'w/' }, from: 1, events: [put('w/a', '1', 1), progress(4)] }, writes)).toEqual({ ok: false, message: expect.stringContaining('put w/b@3') });
    expect(checkWatchAgainstWrites({ filter: { prefix: 'w/' }, from: 1, events: [put('w/a', '1', 1), put('w/a', '1', 1)] }, writes)).toMatchObject({ ok: false });
    expect(checkWatchAgainstWrites({ filter: { prefix: 'w/' }, from: 1, events: [put('w/z', 'x', 2)] }, writes)).toMatchObject({ ok: false });
  });
});
