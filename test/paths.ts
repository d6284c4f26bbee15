/**
 * Where the tests find the project: paths resolved from this file, never hard-coded.
 */
import * as fs from 'fs';
import * as path from 'path';

/** The repository root (this file is test/paths.ts). */
export const REPO_ROOT = path.resolve(__dirname, '..');

/**
 * The project's Python: the venv the Makefile builds (`.venv`), unless
 * TASKSCOPE_TEST_PYTHON names another interpreter.
 */
export const VENV_PYTHON =
  process.env.TASKSCOPE_TEST_PYTHON ||
  (process.platform === 'win32'
    ? path.join(REPO_ROOT, '.venv', 'Scripts', 'python.exe')
    : path.join(REPO_ROOT, '.venv', 'bin', 'python'));

/** The npm package's version (the Python package must report the same). */
export const PACKAGE_VERSION: string = JSON.parse(
  fs.readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')
).version;

/**
 * Make this checkout's `taskscope` importable from `dir` (a link `dir/taskscope`), so a
 * Python with `dir` on its path runs the code under test whatever the venv has installed.
 */
export function linkCheckout(dir: string): string {
  fs.symlinkSync(path.join(REPO_ROOT, 'taskscope'), path.join(dir, 'taskscope'), 'dir');
  return dir;
}
