import { createServer } from 'node:http';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createNotifier } from '../../../runtime/notifier.ts';
import { silentLogger } from '../../../core/log.ts';
import { waitFor } from '../../../core/wait.ts';
import type { Alert } from '../../../core/events.ts';
import { tempDir } from './helpers.ts';

const tmp = tempDir('notifier');
afterAll(() => tmp.cleanup());
const alert: Alert = { severity: 'critical', component: 'trade', code: 'order.fatal', message: 'invalid volume', data: { clientId: 'x.1' } };

describe('notifiers', () => {
  it('command: the alert JSON arrives on stdin', async () => {
    const out = join(tmp.dir, 'alert.json');
    const n = createNotifier({ kind: 'command', command: ['sh', '-c', `cat > '${out}'`], timeoutMs: 5000 }, silentLogger);
    await n.notify(alert);
    await waitFor(() => existsSync(out) || undefined, { what: 'alert file', timeoutMs: 5000 });
    expect(JSON.parse(readFileSync(out, 'utf8'))).toEqual(alert);
  });

  it('webhook: the alert is POSTed as JSON; a dead URL does not throw', async () => {
    const got: unknown[] = [];
    const srv = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        got.push(JSON.parse(body));
        res.end('ok');
      });
    });
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
    const port = (srv.address() as { port: number }).port;
    try {
      await createNotifier({ kind: 'webhook', url: `http://127.0.0.1:${port}/hook`, timeoutMs: 2000 }, silentLogger).notify(alert);
      expect(got).toEqual([alert]);
    } finally {
      await new Promise<void>((r) => srv.close(() => r()));
    }
    await expect(createNotifier({ kind: 'webhook', url: `http://127.0.0.1:${port}/hook`, timeoutMs: 500 }, silentLogger).notify(alert)).resolves.toBeUndefined();
  });
});
