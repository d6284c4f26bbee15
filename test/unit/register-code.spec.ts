/**
 * REGISTER_CODE is what the front end runs silently in a kernel. It is Python, so it is
 * run here by a real Python: the project's venv with this checkout's taskscope importable
 * (linked into the working directory), and the same interpreter isolated from both the
 * working directory and site-packages (taskscope not importable).
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

import { REGISTER_CODE } from '../../src/bridge';
import { linkCheckout, VENV_PYTHON } from '../paths';

/** Printed after the code runs: whether the helper name leaked into globals. */
const LEAK_PROBE = "\nprint('|leaked=' + str('_taskscope_bridge' in globals()), end='')";

let cwd: string;

beforeAll(() => {
  // a working directory holding only a link to this checkout's taskscope package
  cwd = linkCheckout(fs.mkdtempSync(path.join(os.tmpdir(), 'taskscope-unit-')));
});

afterAll(() => {
  fs.rmSync(cwd, { recursive: true, force: true });
});

function runPython(args: string[]): { stdout: string; stderr: string } {
  const result = spawnSync(VENV_PYTHON, [...args, '-c', REGISTER_CODE + LEAK_PROBE], {
    cwd,
    encoding: 'utf8',
    timeout: 60_000,
    env: { ...process.env, PYTHONPATH: '', PYTHONNOUSERSITE: '1' }
  });
  if (result.error) {
    throw result.error;
  }
  expect(result.status).toBe(0);
  return { stdout: result.stdout, stderr: result.stderr };
}

describe('REGISTER_CODE', () => {
  it('imports the bridge, registers, and tells the outcome without a newline', () => {
    expect(REGISTER_CODE).toContain('import taskscope.bridge');
    expect(REGISTER_CODE).toContain('.register()');
    expect(REGISTER_CODE).toContain("print('taskscope:ok', end='')");
    expect(REGISTER_CODE).toContain('if _taskscope_bridge.register():');
    expect(REGISTER_CODE).toContain("print('taskscope:missing', end='')");
  });

  it('prints taskscope:failed, not ok, where taskscope imports but no kernel can take the comm', () => {
    // a plain Python process has no comm manager: register() says False (taskscope:ok is
    // printed in a real kernel: test/kernel/comm.spec.ts)
    const { stdout, stderr } = runPython([]);
    expect({ stdout, stderr }).toEqual({
      stdout: 'taskscope:failed:this kernel has no comm manager|leaked=False',
      stderr: ''
    });
  });

  it('prints taskscope:missing where taskscope is not importable', () => {
    // -I: no user site, no working directory on sys.path; -S: no site-packages, so not
    // an install in the venv either
    const { stdout, stderr } = runPython(['-I', '-S']);
    expect({ stdout, stderr }).toEqual({
      stdout: 'taskscope:missing|leaked=False',
      stderr: ''
    });
  });

  it('prints taskscope:failed, not missing, where taskscope is installed but broken', () => {
    // a taskscope package whose import fails for another reason than its absence
    const broken = fs.mkdtempSync(path.join(os.tmpdir(), 'taskscope-broken-'));
    try {
      fs.mkdirSync(path.join(broken, 'taskscope'));
      fs.writeFileSync(
        path.join(broken, 'taskscope', '__init__.py'),
        'import a_module_that_is_not_there\n'
      );
      const result = spawnSync(VENV_PYTHON, ['-S', '-c', REGISTER_CODE], {
        cwd: broken,
        encoding: 'utf8',
        timeout: 60_000,
        env: { ...process.env, PYTHONPATH: broken, PYTHONNOUSERSITE: '1' }
      });
      expect(result.stdout).toMatch(/^taskscope:failed:ModuleNotFoundError\(/);
      expect(result.stdout).toContain('a_module_that_is_not_there');
    } finally {
      fs.rmSync(broken, { recursive: true, force: true });
    }
  });

  it('really is without taskscope under -I -S (the missing case is not vacuous)', () => {
    const probe = spawnSync(
      VENV_PYTHON,
      ['-I', '-S', '-c', 'import importlib.util as u; print(u.find_spec("taskscope"))'],
      { cwd, encoding: 'utf8', timeout: 60_000 }
    );
    expect(probe.stdout.trim()).toBe('None');
    const found = spawnSync(
      VENV_PYTHON,
      ['-c', 'import importlib.util as u; print(u.find_spec("taskscope") is not None)'],
      { cwd, encoding: 'utf8', timeout: 60_000 }
    );
    expect(found.stdout.trim()).toBe('True');
  });
});
