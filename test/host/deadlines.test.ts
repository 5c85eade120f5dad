import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Deadlines } from '../../src/host/deadlines.ts';

describe('host: many deadlines on one timer', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('fires each wait once its time has passed, in any order of adding, and never a cancelled one', () => {
    const d = new Deadlines();
    const fired: string[] = [];
    d.add(100, () => fired.push('a'));
    const cancelB = d.add(150, () => fired.push('b'));
    d.add(50, () => fired.push('c')); // earlier than the armed timer: re-armed
    d.add(150, () => fired.push('d'));
    vi.advanceTimersByTime(60);
    expect(fired).toEqual(['c']);
    cancelB();
    vi.advanceTimersByTime(50);
    expect(fired).toEqual(['c', 'a']);
    vi.advanceTimersByTime(100);
    expect(fired).toEqual(['c', 'a', 'd']);
    expect(d.size).toBe(0);
  });

  it('keeps one runtime timer however many waits are pending', () => {
    const d = new Deadlines();
    const cancels = Array.from({ length: 1000 }, (_, i) => d.add(1000 + i, () => {}));
    expect(vi.getTimerCount()).toBe(1);
    for (const cancel of cancels) cancel();
    d.add(5000, () => {});
    expect(vi.getTimerCount()).toBe(1); // the armed timer stays; it finds nothing due and re-arms for the rest
    vi.advanceTimersByTime(6000);
    expect(d.size).toBe(0);
    expect(vi.getTimerCount()).toBe(0);
  });
});
