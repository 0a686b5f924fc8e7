import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { afterAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../../core/config/index.ts';
import { waitFor } from '../../../core/wait.ts';
import { ExternalLab } from '../../../lab/index.ts';
import { smokeCheck } from '../../../lab/smoke.ts';
import { ROOT } from '../../helpers/cli.ts';
import { dockerEngine } from '../../helpers/docker.ts';

const compose = parse(readFileSync(join(ROOT, 'docker-compose.yml'), 'utf8')) as { services: Record<string, { image?: string; ports?: string[] }> };

describe('docker-compose.yml', () => {
  it('runs the lab topology from real images, Toxiproxy included', () => {
    const s = compose.services;
    expect(Object.keys(s).sort()).toEqual(['clickhouse', 'redis-master', 'redis-replica', 'sentinel-1', 'sentinel-2', 'sentinel-3', 'toxiproxy']);
    expect(s.clickhouse!.image).toMatch(/^clickhouse\/clickhouse-server:/);
    expect(s.toxiproxy!.image).toMatch(/^ghcr\.io\/shopify\/toxiproxy:/);
    expect(s.toxiproxy!.ports).toContain('8474:8474');
  });
});

const engine = dockerEngine();
const title = engine.ok ? 'docker compose lab (external provider)' : `docker compose lab (skipped: ${engine.reason})`;

describe.skipIf(!engine.ok)(title, () => {
  afterAll(() => {
    spawnSync('docker', ['compose', 'down', '-v'], { cwd: ROOT, stdio: 'ignore', timeout: 120_000 });
  });

  it('the external provider finds the master through the compose Sentinels and passes the smoke check', async () => {
    const up = spawnSync('docker', ['compose', 'up', '-d', '--wait'], { cwd: ROOT, encoding: 'utf8', timeout: 300_000 });
    expect(up.status, up.stderr).toBe(0);
    const config = parseConfig({
      lab: {
        provider: 'external',
        external: {
          sentinels: [26379, 26380, 26381].map((port) => ({ host: '127.0.0.1', port })),
          masterName: 'ea-master',
          clickhouseUrl: 'http://127.0.0.1:8123',
          toxiproxyUrl: 'http://127.0.0.1:8474',
        },
      },
    });
    const lab = await waitFor(() => ExternalLab.connect(config), { what: 'compose sentinels', timeoutMs: 60_000, intervalMs: 500 });
    expect(lab.info.proxy?.api).toBe('http://127.0.0.1:8474');
    const results = await smokeCheck(lab.info);
    expect(results.filter((r) => r.service.startsWith('clickhouse')).every((r) => r.ok)).toBe(true);
  });
});
