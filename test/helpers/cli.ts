/** Runs the `ctxd` CLI as a user would, and captures what it prints. */
import { execFile } from 'node:child_process';
import { CLI, REPO_ROOT } from './daemon.ts';

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export function ctxd(args: string[], env: Record<string, string> = {}, input?: string): Promise<CliResult> {
  return new Promise((resolve) => {
    const child = execFile(
      process.execPath,
      [CLI, ...args],
      { cwd: REPO_ROOT, env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env }, timeout: 60_000 },
      (err, stdout, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
    if (input !== undefined) child.stdin!.end(input);
    else child.stdin!.end();
  });
}
