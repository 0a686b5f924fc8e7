/** Report rendering and the CI gate (docs/reports.md). */
export { buildRunReport, scenarioStatus, runStatus, type BuildOptions, type ScenarioMeta } from './build.ts';
export { renderJunit } from './junit.ts';
export { renderHtml, componentChart, scenarioTimeline } from './html.ts';
export { renderSummary, type SummaryOptions } from './summary.ts';
export { evaluateGate, loadGoalsFile, parseGoalsFile, type GateResult, type GateSettings, type GoalOverrides } from './gate.ts';
export { writeRunReport, renderRunFiles, readRunReport, makeRunId, type WrittenReport } from './write.ts';
export { RunReportSchema, REPORT_SCHEMA_ID, type RunReport, type ScenarioResult, type Recovery } from './schema.ts';
export { collectEnvironment } from './environment.ts';
export { renderProgress, type ProgressState } from './progress.ts';
