import { cloudflareTest } from '@cloudflare/vitest-plugin';
import { defineConfig } from 'vitest/config';
import { TEST_ADMIN_TOKEN, TEST_CONFIG, TEST_MAX_VALUE_BYTES } from './test/worker/test-config.ts';

export default defineConfig({
  test: {
    projects: [
      {
        // The pure core, the simulator and the checkers: plain Node, no Workers runtime.
        test: {
          name: 'node',
          environment: 'node',
          include: ['test/core/**/*.test.ts', 'test/kv/**/*.test.ts', 'test/host/**/*.test.ts', 'test/sim/**/*.test.ts', 'test/checker/**/*.test.ts'],
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
                EDGEPAXOS_CHAOS: 'on',
                EDGEPAXOS_MAX_VALUE_BYTES: String(TEST_MAX_VALUE_BYTES),
              },
            },
          }),
        ],
        test: {
          name: 'workers',
          include: ['test/worker/**/*.test.ts'],
          testTimeout: 60_000,
        },
      },
    ],
  },
});
