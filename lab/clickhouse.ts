import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * A minimal config for Debian's clickhouse-server 18.16 that also works on
 * current releases: everything lives in the lab dir, loopback only, small caches.
 * 18.16 reads `<yandex>` as the root element; current releases accept it too.
 */
export function clickhouseConfig(dir: string, httpPort: number, tcpPort: number): { configPath: string } {
  const data = join(dir, 'data');
  for (const d of [data, join(dir, 'tmp'), join(dir, 'user_files'), join(dir, 'format_schemas')]) mkdirSync(d, { recursive: true });
  const users = `<?xml version="1.0"?>
<yandex>
  <profiles><default><max_memory_usage>4000000000</max_memory_usage><load_balancing>random</load_balancing></default></profiles>
  <users><default><password></password><networks><ip>127.0.0.1</ip><ip>::1</ip></networks><profile>default</profile><quota>default</quota></default></users>
  <quotas><default><interval><duration>3600</duration><queries>0</queries><errors>0</errors><result_rows>0</result_rows><read_rows>0</read_rows><execution_time>0</execution_time></interval></default></quotas>
</yandex>
`;
  const config = `<?xml version="1.0"?>
<yandex>
  <logger><level>warning</level><log>${join(dir, 'server.log')}</log><errorlog>${join(dir, 'server.err.log')}</errorlog><size>10M</size><count>2</count></logger>
  <http_port>${httpPort}</http_port>
  <tcp_port>${tcpPort}</tcp_port>
  <listen_host>127.0.0.1</listen_host>
  <max_connections>512</max_connections>
  <keep_alive_timeout>10</keep_alive_timeout>
  <max_concurrent_queries>100</max_concurrent_queries>
  <uncompressed_cache_size>67108864</uncompressed_cache_size>
  <mark_cache_size>134217728</mark_cache_size>
  <path>${data}/</path>
  <tmp_path>${join(dir, 'tmp')}/</tmp_path>
  <user_files_path>${join(dir, 'user_files')}/</user_files_path>
  <format_schema_path>${join(dir, 'format_schemas')}/</format_schema_path>
  <users_config>${join(dir, 'users.xml')}</users_config>
  <default_profile>default</default_profile>
  <default_database>default</default_database>
  <timezone>UTC</timezone>
  <mlock_executable>false</mlock_executable>
</yandex>
`;
  writeFileSync(join(dir, 'users.xml'), users);
  const configPath = join(dir, 'config.xml');
  writeFileSync(configPath, config);
  return { configPath };
}

export async function clickhousePing(url: string): Promise<true | undefined> {
  const res = await fetch(new URL('/ping', url), { signal: AbortSignal.timeout(500) });
  const body = await res.text();
  return res.ok && body.startsWith('Ok') ? true : undefined;
}

export async function clickhouseVersion(url: string): Promise<string> {
  const res = await fetch(new URL('/?query=SELECT%20version()', url), { signal: AbortSignal.timeout(2000) });
  return (await res.text()).trim();
}
