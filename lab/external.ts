import type { Config } from '../core/config/index.ts';
import { ConfigError } from '../core/errors.ts';
import { currentMaster, sentinelReplicas } from './redis.ts';
import type { LabInfo } from './types.ts';

/** Users' own servers: endpoints come from config, and ea-chaos starts or stops nothing. */
export class ExternalLab implements AsyncDisposable {
  private constructor(readonly info: LabInfo) {}

  static async connect(config: Config): Promise<ExternalLab> {
    const ext = config.lab.external;
    if (!ext) {
      throw new ConfigError('lab.provider is "external" but lab.external is missing', [
        { path: 'lab.external', received: undefined, expected: 'an object with sentinels and clickhouseUrl' },
      ]);
    }
    const masterName = ext.masterName ?? config.redis.masterName;
    const info: LabInfo = {
      provider: 'external',
      dir: '',
      sentinelMasterName: masterName,
      redis: { master: { host: '', port: 0 }, replicas: [] },
      sentinels: ext.sentinels,
      clickhouse: { url: ext.clickhouseUrl },
      ...(ext.toxiproxyUrl ? { proxy: { api: ext.toxiproxyUrl } } : {}),
      pids: {},
      versions: {},
      startedAt: new Date().toISOString(),
    };
    const lab = new ExternalLab(info);
    Object.assign(info, await lab.status());
    return lab;
  }

  async status(): Promise<LabInfo> {
    const info = structuredClone(this.info);
    const cur = await currentMaster(info.sentinels, info.sentinelMasterName);
    if (cur) {
      info.redis.master = cur.master;
      info.redis.replicas = await sentinelReplicas(cur.sentinel, info.sentinelMasterName).catch(() => []);
    }
    return info;
  }

  async stop(): Promise<void> {}

  async [Symbol.asyncDispose](): Promise<void> {}
}
