import { describe, expect, it } from 'vitest';
import { ConfigError, describeConfig, loadConfig, maskUrl } from '../src/config.js';

describe('config', () => {
  it('has working defaults', () => {
    const c = loadConfig({});
    expect(c).toMatchObject({ databaseUrl: '', schema: 'taskpod', dataDir: '.taskpod/data', logLevel: 'info', pluginDirs: [], defaultMaxAttempts: 3 });
  });

  it('reads every setting from its env var', () => {
    const c = loadConfig({ TASKPOD_PLUGIN_DIRS: '/a, /b', TASKPOD_HEARTBEAT_MS: '250', TASKPOD_COMMAND_ALLOW: 'ls' });
    expect(c.pluginDirs).toEqual(['/a', '/b']);
    expect(c.heartbeatMs).toBe(250);
    expect(c.commandAllow).toEqual(['ls']);
  });

  it('names the key, the env var and the problem, for every bad value at once', () => {
    let error: unknown;
    try {
      loadConfig({ TASKPOD_LOG_LEVEL: 'loud', TASKPOD_MAX_ATTEMPTS: '0' });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const message = (error as Error).message;
    expect(message).toContain('logLevel (env TASKPOD_LOG_LEVEL): must be one of the possible values');
    expect(message).toContain('value was "loud"');
    expect(message).toContain('defaultMaxAttempts (env TASKPOD_MAX_ATTEMPTS): must be a positive integer');
  });

  it('never shows a secret, in display or in errors', () => {
    const c = loadConfig({ DATABASE_URL: 'postgres://u:pa55@h/db' });
    expect(describeConfig(c).find((e) => e.key === 'databaseUrl')!.value).toBe('postgres://u:****@h/db');
    expect(maskUrl('not a url with secret')).toBe('****');
  });
});
