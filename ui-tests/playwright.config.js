/**
 * Galata (Playwright) configuration for taskscope's UI tests.
 *
 * Run from this folder: `npx playwright test` (scripts/run-tests.sh sets
 * PLAYWRIGHT_JUNIT_OUTPUT_NAME). It starts its own JupyterLab from the repo's venv on
 * 127.0.0.1 and drives Debian's Chromium: no browser is ever downloaded.
 */
const path = require('path');
const baseConfig = require('@jupyterlab/galata/lib/playwright-config');

const PORT = Number(process.env.TASKSCOPE_UI_PORT || 8989);
const JUPYTER = path.resolve(__dirname, '..', '.venv', 'bin', 'jupyter');
const RESULTS = path.resolve(__dirname, '..', 'test-results');

module.exports = {
  ...baseConfig,
  testDir: './tests',
  // one folder per server port: two runs side by side must not empty each other's
  outputDir: path.join(RESULTS, PORT === 8989 ? 'ui-artifacts' : `ui-artifacts-${PORT}`),
  // Skips and flakes count as failures here: no retries, and a stray `.only` fails the run.
  retries: 0,
  forbidOnly: true,
  workers: 1,
  fullyParallel: false,
  // A 2-core machine: the first notebook and kernel of a run can take a while.
  timeout: 120000,
  expect: { timeout: 30000 },
  reporter: [
    ['list'],
    [
      'junit',
      {
        outputFile:
          process.env.PLAYWRIGHT_JUNIT_OUTPUT_NAME || path.join(RESULTS, 'ui.xml')
      }
    ]
  ],
  use: {
    ...baseConfig.use,
    baseURL: `http://127.0.0.1:${PORT}`,
    browserName: 'chromium',
    launchOptions: {
      executablePath: '/usr/bin/chromium',
      args: [
        '--no-sandbox',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-gpu',
        '--no-first-run',
        '--disable-sync',
        '--disable-quic'
      ]
    },
    video: 'off',
    trace: 'retain-on-failure',
    screenshot: 'only-on-failure',
    actionTimeout: 30000,
    navigationTimeout: 60000
  },
  webServer: {
    command: `"${JUPYTER}" lab --config jupyter_server_test_config.py`,
    cwd: __dirname,
    url: `http://127.0.0.1:${PORT}/lab`,
    env: {
      ...process.env,
      TASKSCOPE_UI_PORT: String(PORT),
      PYTHONUNBUFFERED: '1'
    },
    reuseExistingServer: !process.env.CI,
    timeout: 180000,
    // SIGTERM lets the server shut its kernels down and remove its temporary folder.
    gracefulShutdown: { signal: 'SIGTERM', timeout: 20000 },
    stdout: 'ignore',
    stderr: 'pipe'
  }
};
