/**
 * `npm run bench`: every benchmark, one after another, each in its own process
 * so one area's sockets and child processes cannot skew the next one's figures.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const benches = ['lab', 'proxy', 'sim', 'runtime', 'stream'];
let failed = 0;
for (const b of benches) {
  const file = fileURLToPath(new URL(`./${b}.bench.ts`, import.meta.url));
  if (!existsSync(file)) {
    console.log(`\n== bench:${b}: no ${b}.bench.ts yet`);
    continue;
  }
  console.log(`\n== bench:${b}`);
  const r = spawnSync(process.execPath, ['--import', 'tsx', file], { stdio: 'inherit', timeout: 10 * 60_000 });
  if (r.status !== 0) failed++;
}
process.exitCode = failed > 0 ? 1 : 0;
