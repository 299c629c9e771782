/** Agents import the client as `ctxd/client`: compiled JavaScript, so it loads from node_modules on any Node ≥ 20. */
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../helpers/daemon.ts';

describe('package exports', () => {
  it('resolves ctxd/client to the built client with its error classes', () => {
    const out = execFileSync(process.execPath, ['-e', "import('ctxd/client').then((m) => console.log(Object.keys(m).sort().join(',')))"], { cwd: REPO_ROOT }).toString();
    expect(out.trim().split(',')).toEqual(expect.arrayContaining(['CtxdClient', 'CtxdError', 'CtxdRequestError', 'ERROR_CLASSES', 'keyFromDataDir']));
  });
});
