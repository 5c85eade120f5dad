import { cloudflareTest } from '@cloudflare/vitest-plugin';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    projects: [
      {
        // The pure core, the simulator and the checkers: plain Node, no Workers runtime.
        test: {
          name: 'node',
          environment: 'node',
          include: ['test/core/**/*.test.ts', 'test/sim/**/*.test.ts', 'test/checker/**/*.test.ts'],
          testTimeout: 120_000,
        },
      },
      {
        // Everything that touches the Workers runtime runs inside workerd.
        plugins: [cloudflareTest({ wrangler: { configPath: './wrangler.toml' } })],
        test: {
          name: 'workers',
          include: ['test/worker/**/*.test.ts'],
          testTimeout: 60_000,
        },
      },
    ],
  },
});
