/**
 * One kernel per spec file, for jest: started before the file's tests, shut down after
 * them, and after each test a check that every message it sent this client verified.
 *
 *     let kernel: LocalKernel;
 *     useKernel(started => (kernel = started));
 */
import { IStartOptions, LocalKernel, startKernel } from './wire';

export function useKernel(
  onStarted: (kernel: LocalKernel) => void,
  options: IStartOptions = {}
): void {
  let kernel: LocalKernel | undefined;

  beforeAll(async () => {
    kernel = await startKernel(options);
    onStarted(kernel);
  });

  afterAll(async () => {
    await kernel?.shutdown();
  });

  afterEach(() => {
    expect(kernel?.rejected ?? []).toEqual([]);
  });
}
