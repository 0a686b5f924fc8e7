export { startConsumer, type Consumer, type ConsumerOptions, type ConsumerRecord, type ConsumerStats, type HistoryAnswer } from './consumer.ts';
export { SequenceTracker, type Anomaly, type Gap, type ReceivedTick, type Via } from './tracker.ts';
export { checkNoTickLost, type NoTickLostResult } from './check.ts';
