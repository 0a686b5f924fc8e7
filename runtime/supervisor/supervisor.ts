import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, request, type Server } from 'node:http';
import { applyTimeScale, type Config } from '../../core/config/index.ts';
import type { Clock, TimerHandle } from '../../core/clock.ts';
import type { Alert, EventBus, Notifier } from '../../core/events.ts';
import { EaChaosError } from '../../core/errors.ts';
import { freeServicePorts } from '../../lab/ports.ts';
import { RestartPolicy } from './policy.ts';

export interface ChildSpec {
  command: string;
  args: string[];
  env?: Record<string, string>;
  /** GET this until it answers 200: the instance is ready. */
  readyUrl: string;
  /**
   * The child speaks the warm-standby protocol (runtime/supervisor/warm-entry.ts): spawned as
   * `command warm.args`, it loads everything, sends `{type:'warm'}` over IPC and waits for
   * `{type:'start', argv: args}`. The supervisor keeps one such spare per instance, so a restart
   * skips Node's start and every import.
   */
  warm?: { args: string[] };
}

export type InstanceState = 'starting' | 'ready' | 'restarting' | 'gave_up' | 'stopped';

export interface InstanceStatus {
  index: number;
  id: string;
  state: InstanceState;
  pid: number | undefined;
  /** Control port handed to the child (EA_CHAOS_CONTROL_PORT). */
  port: number;
  restarts: number;
  restartsInWindow: number;
  lastExit?: { code: number | null; signal: string | null; at: number };
  /** Exit of the previous process → /ready of the new one, for the latest restart. */
  lastRestartToReadyMs?: number;
  startToReadyMs?: number;
  /** Warm standby of this instance (only for children that speak the warm protocol). */
  standby?: 'loading' | 'warm';
}

export interface SupervisorOptions {
  clock: Clock;
  /** Loaded config at full scale; `process.*` durations get `timeScale` applied here. */
  config: Config;
  events: EventBus;
  notifier: Notifier;
  instances: number;
  /** How to start instance `index`, given its control port. */
  child: (index: number, port: number) => ChildSpec;
  /** Instance names in /health and events (default `ea-<index>`). */
  instanceId?: (index: number) => string;
  host?: string;
  /** Port of the supervisor's own /health (0: free port). */
  healthPort?: number;
  /** A start that is not ready within this is killed and counted as a crash (default 10 s). */
  readyTimeoutMs?: number;
  /** Readiness poll period (default 5 ms). */
  readyPollMs?: number;
  /** Where children's stdout/stderr go (default: inherit stderr, ignore stdout). */
  stdio?: 'inherit' | 'ignore';
  /** Grace between SIGTERM and SIGKILL on stop (default 3 s). */
  stopGraceMs?: number;
}

export interface Supervisor extends AsyncDisposable {
  /** Resolves when /health listens and every instance was started once (ready or not). */
  readonly ready: Promise<{ healthPort: number; healthUrl: string }>;
  status(): InstanceStatus[];
  /** Resolves when instance `index` is ready with a pid different from `notPid`. */
  waitReady(index: number, opts?: { notPid?: number; timeoutMs?: number }): Promise<InstanceStatus>;
  stop(): Promise<void>;
}

interface Spare {
  proc: ChildProcess;
  warm: boolean;
}

interface Instance {
  status: InstanceStatus;
  proc?: ChildProcess;
  spare?: Spare;
  policy: RestartPolicy;
  timer?: TimerHandle;
  exitAtMono?: number;
  spawnAtMono?: number;
  readyGen: number;
  waiters: Set<() => void>;
}

function httpOk(url: string, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request(url, { method: 'GET', timeout: timeoutMs, agent: false }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(false));
    req.end();
  });
}

/**
 * The EA process supervisor (seed §3.6): N child processes, each restarted at
 * once when it exits unexpectedly, consecutive restarts `restartIntervalMs`
 * apart, and given up (event + alert) when `maxRestartAttempts` restarts already
 * happened within `cooldownMs`.
 */
export function startSupervisor(opts: SupervisorOptions): Supervisor {
  const { clock, events, notifier } = opts;
  const cfg = applyTimeScale(opts.config).process;
  const host = opts.host ?? '127.0.0.1';
  const readyTimeoutMs = opts.readyTimeoutMs ?? 10_000;
  const pollMs = opts.readyPollMs ?? 5;
  const stopGraceMs = opts.stopGraceMs ?? 3000;
  if (!Number.isInteger(opts.instances) || opts.instances < 1) throw new EaChaosError('E_USAGE', `instances must be a positive integer, got ${opts.instances}`);
  const instances: Instance[] = [];
  let stopping = false;
  let server: Server | undefined;

  const emit = (inst: Instance, type: string, data?: Record<string, unknown>) =>
    events.emit('process', type, { instance: inst.status.id, index: inst.status.index, ...data });
  const alert = (a: Omit<Alert, 'component'>) => {
    notifier.notify({ component: 'process', ...a }).catch(() => undefined);
  };

  function notify(inst: Instance) {
    for (const w of [...inst.waiters]) w();
  }

  function spawnChild(inst: Instance) {
    if (stopping) return;
    const spec = opts.child(inst.status.index, inst.status.port);
    inst.spawnAtMono = clock.monotonic();
    inst.status.state = 'starting';
    const gen = ++inst.readyGen;
    let proc: ChildProcess;
    let usedSpare = false;
    try {
      if (spec.warm) {
        const spare = inst.spare;
        inst.spare = undefined;
        if (spare && spare.proc.exitCode === null && spare.proc.signalCode === null && spare.proc.connected) {
          proc = spare.proc;
          usedSpare = spare.warm;
        } else {
          if (spare) spare.proc.kill('SIGKILL');
          proc = spawnProcess(inst, spec, spec.warm.args, true);
        }
        // Queued by Node until the child listens; a cold child acts on it once its imports are done.
        proc.send({ type: 'start', argv: spec.args });
      } else {
        proc = spawnProcess(inst, spec, spec.args, false);
      }
    } catch (e) {
      emit(inst, 'process.spawn_failed', { error: (e as Error).message });
      onExit(inst, null, null);
      return;
    }
    inst.proc = proc;
    inst.status.pid = proc.pid;
    emit(inst, 'process.started', { pid: proc.pid, restarts: inst.status.restarts, warm: usedSpare });
    proc.on('error', (e) => emit(inst, 'process.error', { error: e.message }));
    proc.on('exit', (code, signal) => {
      if (inst.proc !== proc) return;
      inst.proc = undefined;
      onExit(inst, code, signal);
    });
    void pollReady(inst, proc, spec.readyUrl, gen);
  }

  function spawnProcess(inst: Instance, spec: ChildSpec, args: string[], ipc: boolean): ChildProcess {
    const out = opts.stdio === 'inherit' ? 'inherit' : 'ignore';
    const err = opts.stdio === 'ignore' ? 'ignore' : 'inherit';
    return spawn(spec.command, args, {
      env: { ...process.env, ...spec.env, EA_CHAOS_CONTROL_PORT: String(inst.status.port), EA_CHAOS_INSTANCE: inst.status.id },
      stdio: ipc ? ['ignore', out, err, 'ipc'] : ['ignore', out, err],
    });
  }

  /** Start the next standby once the instance is ready, so it does not compete with the start-up. */
  function prepareSpare(inst: Instance) {
    if (stopping || inst.spare) return;
    const spec = opts.child(inst.status.index, inst.status.port);
    if (!spec.warm) return;
    let proc: ChildProcess;
    try {
      proc = spawnProcess(inst, spec, spec.warm.args, true);
    } catch (e) {
      emit(inst, 'process.spare_failed', { error: (e as Error).message });
      return;
    }
    const spare: Spare = { proc, warm: false };
    inst.spare = spare;
    proc.on('message', (m: { type?: string }) => {
      if (m?.type === 'warm') spare.warm = true;
    });
    proc.on('error', () => undefined);
    proc.on('exit', () => {
      if (inst.spare === spare) inst.spare = undefined;
    });
  }

  async function pollReady(inst: Instance, proc: ChildProcess, url: string, gen: number) {
    const deadline = clock.monotonic() + readyTimeoutMs;
    while (!stopping && inst.readyGen === gen && inst.proc === proc) {
      if (await httpOk(url, Math.max(50, pollMs * 20))) {
        if (inst.readyGen !== gen || inst.proc !== proc || stopping) return;
        const now = clock.monotonic();
        inst.status.state = 'ready';
        inst.status.startToReadyMs = now - (inst.spawnAtMono ?? now);
        if (inst.exitAtMono !== undefined) inst.status.lastRestartToReadyMs = now - inst.exitAtMono;
        emit(inst, 'process.ready', { pid: proc.pid, startToReadyMs: inst.status.startToReadyMs, restartToReadyMs: inst.exitAtMono === undefined ? undefined : inst.status.lastRestartToReadyMs });
        inst.exitAtMono = undefined;
        notify(inst);
        prepareSpare(inst);
        return;
      }
      if (clock.monotonic() > deadline) {
        emit(inst, 'process.ready_timeout', { pid: proc.pid, ms: readyTimeoutMs });
        proc.kill('SIGKILL');
        return;
      }
      await clock.sleep(pollMs);
    }
  }

  function onExit(inst: Instance, code: number | null, signal: string | null) {
    const now = clock.monotonic();
    inst.status.pid = undefined;
    inst.status.lastExit = { code, signal, at: clock.now() };
    if (stopping) {
      inst.status.state = 'stopped';
      notify(inst);
      return;
    }
    inst.exitAtMono = now;
    emit(inst, 'process.exited', { code, signal });
    const d = inst.policy.onExit(now);
    inst.status.restartsInWindow = d.restartsInWindow;
    if (d.action === 'give_up') {
      inst.status.state = 'gave_up';
      inst.spare?.proc.kill('SIGKILL');
      inst.spare = undefined;
      emit(inst, 'process.gave_up', { restartsInWindow: d.restartsInWindow, cooldownMs: cfg.cooldownMs });
      alert({
        severity: 'critical',
        code: 'process.gave_up',
        message: `instance ${inst.status.id} exited after ${d.restartsInWindow} restarts within ${cfg.cooldownMs} ms: stopped`,
        data: { instance: inst.status.id, lastExit: inst.status.lastExit },
      });
      notify(inst);
      return;
    }
    inst.status.state = 'restarting';
    emit(inst, 'process.restarting', { inMs: d.delayMs, restartsInWindow: d.restartsInWindow });
    notify(inst);
    const go = () => {
      inst.timer = undefined;
      if (stopping) return;
      inst.policy.recordRestart(clock.monotonic());
      inst.status.restarts++;
      inst.status.restartsInWindow = inst.policy.restartsInWindow(clock.monotonic());
      spawnChild(inst);
    };
    if (d.delayMs <= 0) go();
    else inst.timer = clock.setTimer(d.delayMs, go);
  }

  function summary() {
    const list = instances.map((i) => ({
      ...i.status,
      restartsInWindow: i.policy.restartsInWindow(clock.monotonic()),
      ...(i.spare ? { standby: i.spare.warm ? ('warm' as const) : ('loading' as const) } : {}),
    }));
    const status = list.every((s) => s.state === 'ready') ? 'ok' : list.some((s) => s.state === 'gave_up') ? 'failed' : 'degraded';
    return { status, instances: list };
  }

  const ready = (async () => {
    for (let i = 0; i < opts.instances; i++) {
      // Below the ephemeral range: a restarted runtime must find its control port still free.
      const port = (await freeServicePorts(1, host))[0]!;
      instances.push({
        status: { index: i, id: opts.instanceId?.(i) ?? `ea-${i}`, state: 'starting', pid: undefined, port, restarts: 0, restartsInWindow: 0 },
        policy: new RestartPolicy(cfg),
        readyGen: 0,
        waiters: new Set(),
      });
    }
    server = createServer((req, res) => {
      if (req.method === 'GET' && (req.url === '/health' || req.url === '/ready')) {
        const s = summary();
        res.writeHead(s.status === 'ok' ? 200 : 503, { 'content-type': 'application/json' });
        res.end(JSON.stringify(s));
        return;
      }
      res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ error: 'not found' }));
    });
    await new Promise<void>((resolve, reject) => {
      server!.once('error', reject);
      server!.listen(opts.healthPort ?? 0, host, () => resolve());
    });
    const a = server.address();
    const healthPort = typeof a === 'object' && a ? a.port : 0;
    for (const inst of instances) spawnChild(inst);
    return { healthPort, healthUrl: `http://${host}:${healthPort}/health` };
  })();

  let stopPromise: Promise<void> | undefined;
  const sup: Supervisor = {
    ready,
    status: () => summary().instances,
    async waitReady(index, w = {}) {
      await ready;
      const inst = instances[index];
      if (!inst) throw new EaChaosError('E_USAGE', `no instance ${index}`);
      const timeoutMs = w.timeoutMs ?? readyTimeoutMs + 5000;
      return new Promise<InstanceStatus>((resolve, reject) => {
        const check = () => {
          const s = inst.status;
          if (s.state === 'ready' && s.pid !== undefined && s.pid !== w.notPid) done(() => resolve({ ...s }));
          else if (s.state === 'gave_up' || s.state === 'stopped') done(() => reject(new EaChaosError('E_GAVE_UP', `instance ${s.id} is ${s.state}`)));
        };
        const timer = clock.setTimer(timeoutMs, () => done(() => reject(new EaChaosError('E_TIMEOUT', `instance ${index} not ready after ${timeoutMs} ms`))));
        const done = (f: () => void) => {
          timer.cancel();
          inst.waiters.delete(check);
          f();
        };
        inst.waiters.add(check);
        check();
      });
    },
    stop() {
      stopPromise ??= (async () => {
        stopping = true;
        await ready.catch(() => undefined);
        await Promise.all(
          instances.map(async (inst) => {
            inst.timer?.cancel();
            inst.spare?.proc.kill('SIGKILL');
            inst.spare = undefined;
            const p = inst.proc;
            if (!p || p.exitCode !== null || p.signalCode !== null) {
              inst.status.state = inst.status.state === 'gave_up' ? 'gave_up' : 'stopped';
              return;
            }
            const exited = new Promise<void>((r) => p.once('exit', () => r()));
            p.kill('SIGTERM');
            const t = clock.setTimer(stopGraceMs, () => p.kill('SIGKILL'));
            await exited;
            t.cancel();
          }),
        );
        await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
      })();
      return stopPromise;
    },
    [Symbol.asyncDispose]() {
      return sup.stop();
    },
  };
  return sup;
}
