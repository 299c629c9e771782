#!/usr/bin/env node
/** The `ctxd` command line: `ctxd serve` runs the daemon; other commands talk to one. */
import { runCli } from './run.ts';

process.exitCode = await runCli(process.argv.slice(2), process.env);
