import { defineConfig } from 'vitest/config';

// `npm run test:browser`: Debian's Chromium (/usr/bin/chromium) driven by playwright-core
// against the local platform (the e2e global setup starts `trust-notify start` on free
// ports) and against the compiled email templates. Kept out of `npm test` because it needs
// the chromium package, which .ci/run installs with apt-get where it is missing.
// Screenshots: artifacts/browser/*.png.
export default defineConfig({
  test: {
    name: 'browser',
    include: ['test/browser/**/*.test.ts'],
    globalSetup: ['test/support/e2e-setup.ts'],
    testTimeout: 90_000,
    hookTimeout: 180_000,
    fileParallelism: false,
  },
});
