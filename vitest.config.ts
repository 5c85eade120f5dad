import { readFileSync } from 'node:fs';
import { stripTypeScriptTypes } from 'node:module';
import { cloudflareTest } from '@cloudflare/vitest-plugin';
import { defineConfig } from 'vitest/config';
import { TEST_ADMIN_TOKEN, TEST_CONFIG, TEST_GRANTS, TEST_MAX_VALUE_BYTES } from './test/worker/test-config.ts';

/**
 * The example consumer (examples/consumer) as a second Worker beside the one
 * under test, bound to its EdgePaxos entrypoint exactly as its wrangler.toml
 * says. It is one TypeScript file with type-only imports, so stripping the
 * types is all the building it needs. The Worker under test runs as the
 * plugin's runner, named after the project.
 */
const consumer = {
  name: 'edgepaxos-consumer',
  modules: [{ type: 'ESModule' as const, path: 'index.js', contents: stripTypeScriptTypes(readFileSync('examples/consumer/src/index.ts', 'utf8')) }],
  compatibilityDate: '2026-11-01',
  bindings: { STREAM: 'rpc' },
  serviceBindings: { PAXOS: { name: 'vitest-plugin-runner-workers', entrypoint: 'EdgePaxos' } },
};

export default defineConfig({
  test: {
    // Vitest's default is one worker fewer than the cores: one worker on a 2-core machine, so every
    // file ran one at a time. Two workers, and the projects one after the other (groupOrder below).
    maxWorkers: 2,
    projects: [
      {
        // The pure core, the simulator and the checkers: plain Node, no Workers runtime.
        test: {
          name: 'node',
          environment: 'node',
          // First, on both cores: the simulator's campaigns are CPU-bound, and the workers tests that
          // follow wait on timers that a busy CPU would stretch.
          sequence: { groupOrder: 0 },
          include: ['test/core/**/*.test.ts', 'test/kv/**/*.test.ts', 'test/host/**/*.test.ts', 'test/sim/**/*.test.ts', 'test/checker/**/*.test.ts', 'test/openapi/**/*.test.ts', 'test/bench/**/*.test.ts'],
          // The API's modules, loaded in Node for the OpenAPI validator, extend classes of the Workers runtime.
          alias: { 'cloudflare:workers': new URL('./test/openapi/cloudflare-workers-stub.ts', import.meta.url).pathname },
          testTimeout: 120_000,
        },
      },
      {
        // Everything that touches the Workers runtime runs inside workerd.
        plugins: [
          cloudflareTest({
            wrangler: { configPath: './wrangler.toml' },
            miniflare: {
              bindings: {
                EDGEPAXOS_CONFIG: JSON.stringify(TEST_CONFIG),
                EDGEPAXOS_ADMIN_TOKEN: TEST_ADMIN_TOKEN,
                // Tokens on: every request of the workers tests is checked (closed and public modes: access-modes.test.ts).
                EDGEPAXOS_TOKENS: JSON.stringify(TEST_GRANTS),
                EDGEPAXOS_CHAOS: 'on',
                EDGEPAXOS_MAX_VALUE_BYTES: String(TEST_MAX_VALUE_BYTES),
              },
              // CONSUMER: the example consumer. PAXOS_ADMIN and PAXOS: real service bindings from this Worker to its own
              // entrypoints, as an operator's Worker binds them (admin-rpc.test.ts).
              serviceBindings: {
                CONSUMER: 'edgepaxos-consumer',
                PAXOS_ADMIN: { name: 'vitest-plugin-runner-workers', entrypoint: 'EdgePaxosAdmin' },
                PAXOS: { name: 'vitest-plugin-runner-workers', entrypoint: 'EdgePaxos' },
              },
              // A local bucket for the scheduled backups (backup.test.ts).
              r2Buckets: ['BACKUPS'],
              workers: [consumer],
            },
          }),
        ],
        test: {
          name: 'workers',
          sequence: { groupOrder: 1 },
          include: ['test/worker/**/*.test.ts'],
          testTimeout: 60_000,
        },
      },
    ],
  },
});
