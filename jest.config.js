/**
 * Two jest layers, run one at a time by scripts/run-tests.sh:
 *
 *   unit    jsdom, test/unit/**\/*.spec.ts: the front end's modules on their own.
 *   kernel  node,  test/kernel/**\/*.spec.ts: a real ipykernel from the project's venv,
 *           spoken to over the Jupyter wire protocol (test/kernel/wire.ts).
 *
 * JupyterLab 4 and Lumino ship ES modules, so they are transformed (babel-jest) instead
 * of being ignored like the rest of node_modules; TypeScript goes through ts-jest with
 * tsconfig.test.json (the project's options plus jest/node types, commonjs).
 */
const jestJupyterLab = require('@jupyterlab/testing/lib/jest-config');

const esModules = [
  '@codemirror',
  '@jupyter/ydoc',
  '@jupyter/react-components',
  '@jupyter/web-components',
  '@jupyterlab/',
  '@lumino/',
  '@marijn',
  '@microsoft',
  'color',
  'exenv-es6',
  'lib0',
  'marked',
  'nanoid',
  'vscode-ws-jsonrpc',
  'y-protocols',
  'y-websocket',
  'yjs'
].join('|');

const base = jestJupyterLab(__dirname);

const transform = {
  ...base.transform,
  '^.+\\.tsx?$': ['ts-jest', { tsconfig: '<rootDir>/tsconfig.test.json' }]
};

/** What both projects share (only options jest accepts per project). */
const shared = {
  rootDir: __dirname,
  // only these are crawled: the venv and the built labextension hold package.json files
  // that would collide in jest's module map
  roots: ['<rootDir>/src', '<rootDir>/test'],
  moduleFileExtensions: base.moduleFileExtensions,
  moduleNameMapper: base.moduleNameMapper,
  resolver: base.resolver,
  testPathIgnorePatterns: base.testPathIgnorePatterns,
  transform,
  transformIgnorePatterns: [`/node_modules/(?!${esModules}).+`]
};

module.exports = {
  // Global options (jest takes these from the top level only). One worker: the kernel
  // layer starts real kernels and the machine has two cores; the unit layer is small.
  maxWorkers: 1,
  testTimeout: 10000,
  projects: [
    {
      ...shared,
      displayName: 'unit',
      testEnvironment: base.testEnvironment,
      setupFiles: base.setupFiles,
      testMatch: ['<rootDir>/test/unit/**/*.spec.ts']
    },
    {
      ...shared,
      displayName: 'kernel',
      testEnvironment: 'node',
      // kernel start and shutdown take seconds here: generous per-test limits
      setupFilesAfterEnv: ['<rootDir>/test/kernel/setup.ts'],
      testMatch: ['<rootDir>/test/kernel/**/*.spec.ts']
    }
  ]
};
