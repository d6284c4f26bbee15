// Kernel tests start real processes: a failure limit well above a slow start (never a
// wall-clock assertion; a passing test finishes as fast as the kernel answers).
jest.setTimeout(120_000);
