#!/usr/bin/env node
// Runs the TypeScript CLI directly (through tsx), so there is no build step to remember.
// Supervised runtimes start from compiled JS instead (see docs/architecture.md).
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../cli/main.ts');
process.exitCode = await main(process.argv);
