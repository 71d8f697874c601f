import { defineConfig } from 'vitest/config';

// Five projects, one command (`npm test`):
// - unit: pure domain logic, no servers.
// - integration: handlers driven through the real AWS SDK v3 clients against local
//   servers (DynamoDB Local, aws-ses-v2-local, fauxqs) that the global setup starts
//   on 127.0.0.1 and stops afterwards.
// - e2e: the whole local platform (`trust-notify start`) as a child process on free
//   ports, driven through the real EventBridge client and the CLI.
// - faults: faults injected into the real handlers against the local servers.
// - infra: the CDK stack, asserted with aws-cdk-lib/assertions and cdk-nag.
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts'],
        },
      },
      {
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          globalSetup: ['test/support/global-setup.ts'],
          testTimeout: 60_000,
          hookTimeout: 120_000,
          fileParallelism: false,
        },
      },
      {
        test: {
          name: 'e2e',
          include: ['test/e2e/**/*.test.ts'],
          globalSetup: ['test/support/e2e-setup.ts'],
          testTimeout: 90_000,
          hookTimeout: 180_000,
          fileParallelism: false,
        },
      },
      {
        // Fault injection (test/faults): the integration servers, one fault per test.
        test: {
          name: 'faults',
          include: ['test/faults/**/*.test.ts'],
          globalSetup: ['test/support/global-setup.ts'],
          testTimeout: 120_000,
          hookTimeout: 120_000,
          fileParallelism: false,
        },
      },
      {
        test: {
          name: 'infra',
          include: ['test/infra/**/*.test.ts'],
          testTimeout: 180_000,
          hookTimeout: 180_000,
        },
      },
    ],
  },
});
