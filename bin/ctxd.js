#!/usr/bin/env node
// Runs the TypeScript CLI directly: Node >= 22.18 (and 24, which `npm start` uses) strips types natively.
await import('../src/cli/main.ts');
