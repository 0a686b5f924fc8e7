export { startBroker, type BrokerHandle, type BrokerOptions } from './broker/server.ts';
export { BrokerEngine, type EngineOptions, type SendPlan } from './broker/engine.ts';
export { Ledger, type LedgerRequest, type RequestOutcome } from './broker/ledger.ts';
export {
  FaultsSchema,
  SimulatorProfileSchema,
  loadProfile,
  parseProfile,
  parseFaults,
  mergeFaults,
  noFaults,
  type Faults,
  type FaultsInput,
  type SimulatorProfile,
} from './broker/faults.ts';
export { startFeed, type FeedHandle, type FeedOptions, type FeedStats, type QuoteSource } from './feed/server.ts';
export { TickGenerator } from './feed/generator.ts';
export { DEFAULT_SYMBOLS, FX_WEEK_SESSIONS, resolveSymbols, inSession, type SymbolSpec, type SymbolSpecInput } from './feed/symbols.ts';
export { BrokerClient, BrokerConnectionError, BrokerProtocolError, BrokerTimeoutError } from './protocol/broker-client.ts';
export { FeedClient } from './protocol/feed-client.ts';
export * from './protocol/types.ts';
