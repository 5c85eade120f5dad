import { describe, expect, it } from 'vitest';
import { HostClock } from '../../src/host/host-clock.ts';

// The one rule both hosts follow (the Durable Object host and the simulator):
// elapsed time becomes whole ticks, and a wake-up that comes long after it was
// due is forgiven instead of replayed.

const TIMING = { tickMs: 10, heartbeatIntervalTicks: 5, electionTimeoutTicks: 30 };

function recorder(): { tick(): void; resume(): void; log: string[] } {
  const log: string[] = [];
  return { log, tick: () => log.push('tick'), resume: () => log.push('resume') };
}

describe('host clock', () => {
  it('counts whole ticks and carries the fraction of one to the next input', () => {
    const c = new HostClock(TIMING, 1000);
    expect(c.advance(1025)).toEqual({ kind: 'ticks', ticks: 2 });
    expect(c.advance(1029)).toEqual({ kind: 'ticks', ticks: 0 });
    expect(c.advance(1030)).toEqual({ kind: 'ticks', ticks: 1 });
  });

  it('a timer n ticks away is due n ticks after the last tick counted', () => {
    const c = new HostClock(TIMING, 1000);
    c.advance(1025);
    expect(c.timerDueAt(3)).toBe(1050);
  });

  it('replays an input that comes on time, or late by no more than a heartbeat interval', () => {
    const c = new HostClock(TIMING, 0);
    c.expectWake(100);
    expect(c.advance(100 + 50)).toEqual({ kind: 'ticks', ticks: 15 }); // exactly a heartbeat interval late
    expect(c.forgiven).toBe(0);
  });

  it('forgives an input that comes more than a heartbeat interval after its wake-up was due: the core resumes', () => {
    const c = new HostClock(TIMING, 0);
    c.expectWake(100);
    const r = recorder();
    expect(c.drive(151, r)).toBe(true);
    expect(r.log).toEqual(['resume']);
    expect(c.forgiven).toBe(1);
    // The dropped time is gone: counting starts again from the late input.
    expect(c.advance(171)).toEqual({ kind: 'ticks', ticks: 2 });
  });

  it('forgives at most one late wake-up per two election timeouts, so a dead leader is still noticed', () => {
    const c = new HostClock(TIMING, 0);
    c.expectWake(100);
    expect(c.advance(200).kind).toBe('resume');
    c.expectWake(300);
    expect(c.advance(400)).toEqual({ kind: 'ticks', ticks: 20 }); // 200 ms after the last forgiveness: replayed
    c.expectWake(700);
    expect(c.advance(200 + 2 * 30 * 10 + 100).kind).toBe('resume'); // two election timeouts later: forgiven again
    expect(c.forgiven).toBe(2);
  });

  it('never forgives when no wake-up was asked for (a quiet replica): the time is replayed, capped at four election timeouts', () => {
    const c = new HostClock(TIMING, 0);
    c.expectWake(null);
    const r = recorder();
    expect(c.drive(1_000_000, r)).toBe(false);
    expect(r.log).toHaveLength(4 * 30);
    expect(c.advance(1_000_010)).toEqual({ kind: 'ticks', ticks: 1 }); // beyond the cap, counting restarts at the input
  });
});
