export { measureRecoveries, type RecoverySample, type SampleStatus } from './measure.ts';
export { aggregateComponents, effectiveGoal, percentile, sampleWithinGoal, DEFAULT_GOALS, DEFAULT_SCALING, GOAL_KEYS, type AggregateOptions, type ComponentReport, type Goals, type Scaling } from './goals.ts';
export { seedContradictions, observeContradictions, type SeedContradiction } from './contradictions.ts';
export { RECOVERY_EVENTS, DISRUPTION_EVENTS, describeMatchers } from './mapping.ts';
