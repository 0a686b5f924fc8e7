/**
 * A warm standby for the supervisor: a process that has already loaded the
 * runtime and all its clients (DuckDB's native module alone is ~200 ms) and
 * waits for the supervisor's `{type:'start', argv}` over IPC. A restart then
 * costs the runtime's own start-up, not Node's plus every import.
 */
type Start = { type?: string; argv?: string[] };
let startMsg: string[] | undefined;
let run: ((argv: string[]) => void) | undefined;
// Listen before importing: a cold child gets its start message while it is still loading.
process.on('message', (m: Start) => {
  if (m?.type !== 'start' || startMsg || !Array.isArray(m.argv)) return;
  startMsg = m.argv;
  run?.(m.argv);
});
// A standby whose supervisor is gone has nobody to start it.
process.on('disconnect', () => {
  if (!startMsg) process.exit(0);
});

// runtime/main.ts runs itself when it is the process entry; bundled here, its module URL is
// this file's, so make that check false: the supervisor decides when it runs.
process.argv[1] = 'ea-chaos-warm-standby';
const main = await import('../main.ts');
run = (argv) => {
  process.argv.splice(2, process.argv.length, ...argv);
  main.runtimeMain(argv).then(
    (code) => process.exit(code),
    (e: unknown) => {
      process.stderr.write(`ea-chaos runtime: ${(e as Error).stack ?? String(e)}\n`);
      process.exit(1);
    },
  );
};
if (startMsg) run(startMsg);
else process.send?.({ type: 'warm' });
