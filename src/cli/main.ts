#!/usr/bin/env node
/** The `ctxd` command line: `ctxd serve` runs the daemon; other commands talk to one. */
import { enableCompileCache } from 'node:module';

// Node strips the types of every source file at each start (~0.4–0.7 s of a daemon's start here); its compile cache
// keeps the result, checked against each file's content, in the OS temp dir (or NODE_COMPILE_CACHE). Where that is not
// writable (a read-only root filesystem) it is simply not used. Enabled before anything else is imported.
enableCompileCache?.();
const { runCli } = await import('./run.ts');

process.exitCode = await runCli(process.argv.slice(2), process.env);
