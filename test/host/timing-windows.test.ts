import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DEFAULT_TIMING, SeededRng, majorityConfiguration, validateOptions } from '../../src/core/index.ts';
import { parseStreamDefinition } from '../../src/host/config.ts';
import { timingSettingsProblems, timingWindows } from '../../src/host/timing-windows.ts';

// Every wait of a stream, named and derived from its three timing settings in
// one place, and one rule deciding which settings are usable.

describe('timing windows', () => {
  it('names every window of the default stream settings', () => {
    const w = timingWindows({ tick_ms: 50, heartbeat_interval_ms: 200, election_timeout_ms: 1000 });
    expect(w).toEqual({
      tickMs: 50,
      heartbeatIntervalTicks: 4,
      electionTimeoutTicks: 20,
      retransmitTicks: 8,
      peerRpcTimeoutMs: 1000,
      writeAttemptMs: 4000,
      readAttemptMs: 2000,
      requestDeadlineMs: 6000,
      promotionWaitMs: 10_000,
      destroyWaitMs: 2000,
      lockRecheckMs: 3000,
    });
  });

  it('keeps client deadlines above their floors for short election timeouts', () => {
    const w = timingWindows({ tick_ms: 10, heartbeat_interval_ms: 40, election_timeout_ms: 200 });
    expect(w.requestDeadlineMs).toBe(5000);
    expect(w.destroyWaitMs).toBe(1000);
    expect(w.lockRecheckMs).toBe(1000);
  });

  it('refuses a heartbeat interval shorter than a tick, and an election timeout under two heartbeat intervals', () => {
    expect(timingSettingsProblems({ tick_ms: 50, heartbeat_interval_ms: 20, election_timeout_ms: 1000 })).toEqual([
      { path: 'heartbeat_interval_ms', message: 'must be at least tick_ms (50)' },
    ]);
    expect(timingSettingsProblems({ tick_ms: 50, heartbeat_interval_ms: 200, election_timeout_ms: 350 })[0]?.path).toBe('election_timeout_ms');
    expect(timingSettingsProblems({ tick_ms: 50, heartbeat_interval_ms: 200, election_timeout_ms: 400 })).toEqual([]);
  });

  it('the configuration accepts exactly the settings whose ticks the core accepts (one rule, not three)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 200 }), fc.integer({ min: 1, max: 2000 }), fc.integer({ min: 1, max: 5000 }), (tick, hb, election) => {
        const settings = { tick_ms: tick, heartbeat_interval_ms: hb, election_timeout_ms: election };
        const accepted = (() => {
          try {
            parseStreamDefinition({ name: 's', replicas: [{ id: 1, region: 'wnam' }], ...settings });
            return true;
          } catch {
            return false;
          }
        })();
        expect(accepted).toBe(timingSettingsProblems(settings).length === 0);
        if (!accepted || hb < tick) return;
        const w = timingWindows(settings);
        // What the configuration accepted, the core runs.
        expect(() =>
          validateOptions({ ...DEFAULT_TIMING, ...w, id: 1, configuration: majorityConfiguration([1]), rng: new SeededRng(1) }),
        ).not.toThrow();
      }),
    );
  });
});
