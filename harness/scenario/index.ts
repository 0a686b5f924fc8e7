export { parseDuration, Duration, TOXIC_ATTRIBUTES } from './schema.ts';
export { loadScenarioFile, parseScenario, parseScenarioText, type FaultSpec, type Scenario } from './load.ts';
export { resolveSchedule, FaultInstanceSchema, ResolvedScheduleSchema, type FaultInstance, type ResolvedSchedule } from './resolve.ts';
export * from './vocabulary.ts';
export { parseTagExpression, type TagPredicate } from './tags.ts';
