import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, describe, expect, it } from 'vitest';
import { systemClock } from '../../../core/clock.ts';
import { createRandom } from '../../../core/random.ts';
import { waitFor } from '../../../core/wait.ts';
import { MemoryTickHistory } from '../../../runtime/stream/history.ts';
import { startTickStreamer } from '../../../runtime/stream/streamer.ts';
import { newBus, RecordingNotifier, streamConfig, tick } from './helpers.ts';

const dir = mkdtempSync(join(tmpdir(), 'ea-consumer-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('ea-chaos simulate consumer', () => {
  it('prints its ports, receives a stream, records it, and prints stats on SIGTERM', async () => {
    const record = join(dir, 'ticks.ndjson');
    const p = spawn(process.execPath, ['bin/ea-chaos.js', 'simulate', 'consumer', '--json', '--record', record], { stdio: ['ignore', 'pipe', 'ignore'] });
    const lines: string[] = [];
    createInterface({ input: p.stdout! }).on('line', (l) => lines.push(l));
    const exited = new Promise<number | null>((r) => p.on('exit', (c) => r(c)));
    try {
      const { consumer } = JSON.parse(await waitFor(() => lines[0], { what: 'ports line', timeoutMs: 30_000 })) as { consumer: { udpPort: number; tcpPort: number } };
      const s2 = startTickStreamer({
        clock: systemClock,
        random: createRandom(5),
        config: streamConfig(),
        events: newBus(),
        notifier: new RecordingNotifier(),
        history: new MemoryTickHistory(),
        target: { host: '127.0.0.1', udpPort: consumer.udpPort, tcpPort: consumer.tcpPort },
        epoch: 77,
      });
      try {
        await waitFor(() => s2.status().tcp === 'connected' || undefined, { what: 'tcp', timeoutMs: 5000 });
        for (let i = 1; i <= 50; i++) s2.publish(tick(i));
        await waitFor(() => (readFileSync(record, 'utf8').trim().split('\n').length >= 50 ? true : undefined), { what: 'recorded', timeoutMs: 5000 });
      } finally {
        await s2.stop();
      }
      p.kill('SIGTERM');
      expect(await exited).toBe(0);
      const final = JSON.parse(lines[1]!) as { stats: { udpTicks: number; tcpTicks: number; historyTicks: number }; openGaps: unknown[] };
      expect(final.stats.udpTicks + final.stats.tcpTicks + final.stats.historyTicks).toBe(50);
      expect(final.openGaps).toEqual([]);
      const rec = readFileSync(record, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { epoch: number; seq: number });
      expect(rec.map((r) => r.seq).sort((a, b) => a - b)).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
      expect(rec.every((r) => r.epoch === 77)).toBe(true);
    } finally {
      if (p.exitCode === null) p.kill('SIGKILL');
    }
  });
});
