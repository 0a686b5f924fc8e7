/**
 * A warm standby for the supervisor: a process that has already loaded the
 * runtime and all its clients (DuckDB's native module alone is ~200 ms) and
 * waits for the supervisor's `{type:'start', argv}` over IPC. A restart then
 * costs the runtime's own start-up, not Node's plus every import.
 */
// runtime/main.ts runs itself when it is the process entry; bundled here, its module URL is
// this file's, so make the check false: the supervisor decides when it runs.
process.argv[1] = 'ea-chaos-warm-standby';
const main = await import('../main.ts');

let started = false;
process.on('message', (m: { type?: string; argv?: string[] }) => {
  if (m?.type !== 'start' || started || !Array.isArray(m.argv)) return;
  started = true;
  process.argv.splice(2, process.argv.length, ...m.argv);
  main.runtimeMain(m.argv).then(
    (code) => process.exit(code),
    (e: unknown) => {
      process.stderr.write(`ea-chaos runtime: ${(e as Error).stack ?? String(e)}\n`);
      process.exit(1);
    },
  );
});
// A standby whose supervisor is gone has nobody to start it.
process.on('disconnect', () => {
  if (!started) process.exit(0);
});
process.send?.({ type: 'warm' });
