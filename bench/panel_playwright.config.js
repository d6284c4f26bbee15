/**
 * Playwright configuration for the log panel benchmarks: the UI tests' JupyterLab and
 * Chromium (ui-tests/playwright.config.js), this folder's panel_*.spec.ts, figures printed
 * to the console. Benchmarks never pass or fail on time.
 *
 *   cd /work/main && PATH=$PWD/.venv/bin:$PATH npx playwright test -c bench/panel_playwright.config.js
 *
 * BENCH_ROWS (default 1000000) sets the big store; BENCH_10M=1 adds a 10-million-row pass;
 * BENCH_NAGLE=1 leaves Nagle on for kernel websockets (taskscope.server off; bench/panel_server_config.py).
 * The server listens on TASKSCOPE_UI_PORT (8989): use another port than a running UI test.
 */
const path = require('path');

const base = require('../ui-tests/playwright.config.js');

module.exports = {
  ...base,
  testDir: __dirname,
  testMatch: 'panel_*.spec.ts',
  outputDir: path.resolve(__dirname, '..', 'test-results', 'bench-artifacts'),
  timeout: 60 * 60 * 1000,
  reporter: [['list']],
  webServer: {
    ...base.webServer,
    command: `${base.webServer.command.split(' --config ')[0]} --config ${path.join(__dirname, 'panel_server_config.py')}`,
    reuseExistingServer: false
  },
  use: {
    ...base.use,
    trace: 'off',
    viewport: { width: 1400, height: 900 },
    launchOptions: base.use.launchOptions
  }
};
