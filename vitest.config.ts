import { defineConfig } from 'vitest/config';

// Test tiers by file name (STYLE.md habit 3):
//   *.unit.test.ts  no servers, milliseconds
//   *.int.test.ts   real servers (test/setup/stack.ts finds or starts them once per run)
//   *.e2e.test.ts   whole processes: kill, restart, replay
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/**/*.unit.test.ts'],
          // Tiers run one after another: unit, then int, then e2e (which kills processes).
          sequence: { groupOrder: 0 },
          testTimeout: 30_000,
        },
      },
      {
        test: {
          name: 'int',
          include: ['test/**/*.int.test.ts'],
          sequence: { groupOrder: 1 },
          globalSetup: ['test/setup/stack.ts'],
          testTimeout: 120_000,
          hookTimeout: 180_000,
          // Two cores: integration files run two at a time against one server set.
          maxWorkers: 2,
        },
      },
      {
        test: {
          name: 'e2e',
          include: ['test/**/*.e2e.test.ts'],
          sequence: { groupOrder: 2 },
          globalSetup: ['test/setup/stack.ts'],
          testTimeout: 600_000,
          hookTimeout: 300_000,
          // Two at a time: each e2e file kills only processes it started itself
          // (its projector, its own private broker, its own embedded data dir).
          maxWorkers: 2,
        },
      },
    ],
  },
});
