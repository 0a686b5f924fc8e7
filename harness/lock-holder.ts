import { spawn, type ChildProcess } from 'node:child_process';
import { EaChaosError } from '../core/errors.ts';
import { waitFor } from '../core/wait.ts';
import { whichBinary } from '../lab/binaries.ts';

/**
 * A second process that takes a file's POSIX lock (fcntl, the lock DuckDB takes on its database
 * file) the moment it is free, and keeps it until released: "another process holds the DuckDB
 * file" (seed §3.4). Python's `fcntl.lockf` polls every 0.5 ms, so after the owner dies the holder
 * wins the lock long before a supervised restart reaches the file. Node has no fcntl.
 */
export interface LockHolder {
  readonly file: string;
  /** Wall ms at which the lock was taken; rejects if the holder gave up or died first. */
  readonly lockedAt: Promise<number>;
  /** Let go of the lock and end the process; idempotent. */
  release(): Promise<void>;
}

export async function holdFileLock(file: string, o: { pollForMs: number }): Promise<LockHolder> {
  const python = whichBinary('python3');
  if (!python) throw new EaChaosError('E_FAULT_TOOL', 'file.lock needs python3 for its lock holder (apt-get install python3; `npm test` setup installs it)');
  const script = [
    'import fcntl, os, sys, time',
    `fd = os.open(${JSON.stringify(file)}, os.O_RDWR)`,
    'print("polling", flush=True)',
    `deadline = time.time() + ${Math.max(1, o.pollForMs) / 1000}`,
    'while True:',
    '    try:',
    '        fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB); break',
    '    except OSError:',
    '        if time.time() > deadline: sys.exit(3)',
    '        time.sleep(0.0005)',
    'print("locked", flush=True)',
    // Held until stdin closes: a release, or the harness process ending for any reason.
    'sys.stdin.read()',
  ].join('\n');
  const child: ChildProcess = spawn(python, ['-c', script], { stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  const lockedAt = new Promise<number>((resolve, reject) => {
    const onData = () => {
      if (out.includes('locked')) {
        child.stdout!.off('data', onData);
        resolve(Date.now());
      }
    };
    child.stdout!.on('data', onData);
    void exited.then((code) => reject(new EaChaosError('E_FAULT_LOCK', `the lock holder for ${file} exited (${code}) without the lock${err ? `: ${err.trim()}` : ''}`)));
  });
  lockedAt.catch(() => {});
  let releasing: Promise<void> | undefined;
  const release = () =>
    (releasing ??= (async () => {
      if (child.exitCode === null && child.signalCode === null) {
        child.stdin!.end();
        // stdin closing ends it; the kill covers a holder stuck before its read.
        child.kill('SIGKILL');
      }
      await exited;
    })());
  try {
    // Its interpreter must be polling before the caller kills the owner, or a restart could win the race.
    await waitFor(
      () => {
        if (child.exitCode !== null) throw new EaChaosError('E_FAULT_LOCK', `the lock holder for ${file} exited with ${child.exitCode}${err ? `: ${err.trim()}` : ''}`);
        return out.includes('polling') ? true : undefined;
      },
      { timeoutMs: 10_000, intervalMs: 2, what: `the lock holder polling ${file}` },
    );
  } catch (e) {
    await release();
    throw e;
  }
  return { file, lockedAt, release };
}
