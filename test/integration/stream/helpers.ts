import { performance } from 'node:perf_hooks';
import { systemClock } from '../../../core/clock.ts';
import { parseConfig, type Config, type ConfigInput } from '../../../core/config/index.ts';
import { EventBus, type Alert, type Notifier } from '../../../core/events.ts';
import { createRandom } from '../../../core/random.ts';
import { UdpRelay } from '../../../faultproxy/udp.ts';
import { NO_IMPAIRMENTS } from '../../../faultproxy/impairer.ts';
import type { Tick } from '../../../runtime/stream/codec.ts';

export class RecordingNotifier implements Notifier {
  readonly alerts: Alert[] = [];
  async notify(a: Alert): Promise<void> {
    this.alerts.push(a);
  }
}

export function streamConfig(tick: ConfigInput['tick'] = {}, timeScale = 1): Config {
  return parseConfig({ timeScale, tick });
}

export function newBus(): EventBus {
  return new EventBus(systemClock);
}

/** The fault proxy's seeded UDP relay between streamer and consumer, with a blackhole switch for both directions. */
export async function startRelay(upstreamPort: number, seed = 7) {
  const relay = new UdpRelay('ticks', '127.0.0.1:0', `127.0.0.1:${upstreamPort}`, systemClock, createRandom(seed));
  await relay.start();
  const port = Number(relay.listen.split(':').pop());
  return {
    port,
    relay,
    blackhole(down: boolean) {
      relay.setImpairments('upstream', { ...NO_IMPAIRMENTS, down });
      relay.setImpairments('downstream', { ...NO_IMPAIRMENTS, down });
    },
    stop: () => relay.stop(),
  };
}

export function tick(i: number, symbol = 'EURUSD'): Tick {
  return { symbol, bid: 1.1 + i * 1e-5, ask: 1.1002 + i * 1e-5, last: 0, volume: 0, time_msc: 1_700_000_000_000 + i, flags: 6, seq: i, epoch: 1 };
}

/** Publishes `perTick` ticks every `everyMs` until stopped: a steady stream on the real clock. */
export function steadyPublisher(publish: (i: number) => void, everyMs = 1, perTick = 1) {
  let i = 0;
  let running = true;
  const loop = () => {
    if (!running) return;
    for (let k = 0; k < perTick; k++) publish(++i);
    systemClock.setTimer(everyMs, loop);
  };
  loop();
  return {
    get count() {
      return i;
    },
    stop() {
      running = false;
    },
  };
}

export const now = () => performance.now();
