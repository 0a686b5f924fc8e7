import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../../core/config/index.ts';
import { systemdUnit, windowsServiceScript } from '../../../runtime/supervisor/service.ts';

const spec = { name: 'ea-runtime', exec: ['C:\\Program Files\\nodejs\\node.exe', 'C:\\ea\\dist\\runtime\\main.js', '--config', 'C:\\ea\\ea.yaml'], workingDirectory: '/opt/ea' };

describe('service install files', () => {
  it('writes sc.exe create and the seed failure actions', () => {
    const s = windowsServiceScript(spec, parseConfig({}));
    expect(s).toContain('sc.exe create ea-runtime binPath= "\\"C:\\Program Files\\nodejs\\node.exe\\" C:\\ea\\dist\\runtime\\main.js --config C:\\ea\\ea.yaml"');
    expect(s).toContain('sc.exe failure ea-runtime reset= 30 actions= restart/1000/restart/1000/restart/1000\r\n');
    expect(s).toContain('sc.exe failureflag ea-runtime 1');
  });

  it('writes a systemd unit with the seed restart policy', () => {
    const u = systemdUnit({ ...spec, exec: ['/usr/bin/node', '/opt/ea/dist/runtime/main.js'] }, parseConfig({}));
    const lines = u.split('\n');
    for (const l of ['Restart=always', 'RestartSec=1', 'StartLimitBurst=3', 'StartLimitIntervalSec=30', 'ExecStart=/usr/bin/node /opt/ea/dist/runtime/main.js']) {
      expect(lines).toContain(l);
    }
    // Start limits belong in [Unit] since systemd 230; in [Service] they are ignored.
    expect(u.indexOf('StartLimitBurst')).toBeLessThan(u.indexOf('[Service]'));
  });

  it('derives the values from the config', () => {
    const cfg = parseConfig({ process: { restartIntervalMs: 1500, maxRestartAttempts: 2, cooldownMs: 60_000 } });
    expect(windowsServiceScript(spec, cfg)).toContain('reset= 60 actions= restart/1500/restart/1500\r\n');
    const u = systemdUnit(spec, cfg).split('\n');
    expect(u).toContain('RestartSec=1500ms');
    expect(u).toContain('StartLimitBurst=2');
    expect(u).toContain('StartLimitIntervalSec=60');
  });

  it('rejects a service name that would break the command line', () => {
    expect(() => systemdUnit({ ...spec, name: 'a b' }, parseConfig({}))).toThrow(/--name/);
  });
});
