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

  it('integers are digits only: a number with trailing text, a fraction or an exponent is refused, not truncated', () => {
    for (const [env, value, problem] of [
      ['TASKPOD_JOB_TTL_SECONDS', '2.592e+06', 'jobTtlSeconds (env TASKPOD_JOB_TTL_SECONDS): must be an integer >= 0: value was "2.592e+06"'],
      ['TASKPOD_CONCURRENCY', '12abc', 'concurrency (env TASKPOD_CONCURRENCY): must be a positive integer: value was "12abc"'],
      ['TASKPOD_LOG_TAIL_LINES', '1.5', 'logTailLines (env TASKPOD_LOG_TAIL_LINES): must be an integer >= 0: value was "1.5"'],
      ['TASKPOD_PORT', '70000', 'port (env TASKPOD_PORT): ports must be within range 0 - 65535: value was "70000"'],
    ]) {
      expect(() => loadConfig({ [env]: value }), env).toThrow(`Invalid configuration: ${problem}`);
    }
    expect(loadConfig({ TASKPOD_JOB_TTL_SECONDS: '2592000', TASKPOD_CONCURRENCY: ' 7 ', TASKPOD_PORT: '0' }))
      .toMatchObject({ jobTtlSeconds: 2592000, concurrency: 7, port: 0 });
  });

  it('never shows a secret, in display or in errors', () => {
    const c = loadConfig({ DATABASE_URL: 'postgres://u:pa55@h/db' });
    expect(describeConfig(c).find((e) => e.key === 'databaseUrl')!.value).toBe('postgres://u:****@h/db');
    expect(maskUrl('not a url with secret')).toBe('****');
  });
});
