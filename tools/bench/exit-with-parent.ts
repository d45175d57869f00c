/*
 * Preloaded (`node --import`) into every Node process the benchmark starts. stdin is a pipe from
 * the benchmark, so when the benchmark goes away, even by SIGKILL, stdin ends and this asks the
 * process to shut down as on SIGTERM: nothing it started outlives it.
 */
process.stdin.on('data', () => undefined);
process.stdin.once('close', () => process.kill(process.pid, 'SIGTERM'));
