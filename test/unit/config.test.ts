import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CONFIG_LEAVES, ConfigError, defaultConfig, envName, loadConfig } from '../../src/config/load.ts';
import { REPO_ROOT } from '../helpers/daemon.ts';

describe('configuration', () => {
  it('config/default.json holds exactly the schema defaults', () => {
    const file = JSON.parse(readFileSync(join(REPO_ROOT, 'config', 'default.json'), 'utf8'));
    expect(file).toEqual(JSON.parse(JSON.stringify(defaultConfig())));
  });

  it('applies defaults < file < environment < flags', () => {
    const file = join(REPO_ROOT, 'test', 'fixtures', 'config-port-9001.json');
    expect(loadConfig({ file }).server.port).toBe(9001);
    expect(loadConfig({ file }).server.max_connections).toBe(7);
    expect(loadConfig({ file, env: { CTXD_SERVER_PORT: '9002' } }).server.port).toBe(9002);
    expect(loadConfig({ file, env: { CTXD_SERVER_PORT: '9002' }, flags: { 'server.port': '9003' } }).server.port).toBe(9003);
  });

  it('names every setting by an env var CTXD_<PATH>', () => {
    expect(envName(['server', 'max_connections'])).toBe('CTXD_SERVER_MAX_CONNECTIONS');
    expect(CONFIG_LEAVES.map((l) => envName(l.path))).toContain('CTXD_PROTOCOL_MAX_FRAME_BYTES');
  });

  it('is frozen', () => {
    const c = loadConfig({});
    expect(Object.isFrozen(c)).toBe(true);
    expect(Object.isFrozen(c.server)).toBe(true);
  });

  it.each([
    [{ flags: { 'server.port': '70000' } }, 'config: server.port must be <= 65535'],
    [{ env: { CTXD_SERVER_PORT: 'abc' } }, 'config: server.port (from CTXD_SERVER_PORT) must be an integer, got "abc"'],
    [{ flags: { 'server.colour': 'red' } }, 'config: unknown setting server.colour'],
    [{ flags: { 'log.level': 'loud' } }, 'config: log.level must be equal to one of the allowed values'],
    [{ file: '/nonexistent/ctxd.json' }, 'config: cannot read /nonexistent/ctxd.json: ENOENT'],
  ])('refuses %j with one clear line', (sources, message) => {
    expect(() => loadConfig(sources)).toThrow(new ConfigError(message));
  });
});
