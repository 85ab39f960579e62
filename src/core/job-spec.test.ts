import { describe, expect, it } from 'vitest';
import { ValidationError } from './errors.js';
import { argvOf, parseJobSpec } from './job-spec.js';

function issuesOf(input: unknown): { path: string; message: string }[] {
  try {
    parseJobSpec(input);
  } catch (e) {
    if (e instanceof ValidationError) return e.issues;
    throw e;
  }
  throw new Error('expected a validation error');
}

describe('parseJobSpec', () => {
  it('fills every default', () => {
    const s = parseJobSpec({ command: ['/usr/bin/python3', 'train.py'] });
    expect(s).toMatchObject({ name: 'python3', queue: 'default', type: 'exec', gpus: 0, cpus: 0, memoryMb: 0, priority: 0, maxAttempts: 5, env: {}, labels: {}, nodeSelector: {} });
    expect(s.backoff).toEqual({ initialSeconds: 5, maxSeconds: 300, multiplier: 2 });
    expect(s.timeoutSeconds).toBeUndefined();
  });

  it('keeps a shell line only when asked for, and runs it with /bin/sh -c', () => {
    const s = parseJobSpec({ shell: 'echo hi | wc -c' });
    expect(argvOf(s)).toEqual(['/bin/sh', '-c', 'echo hi | wc -c']);
    expect(argvOf(parseJobSpec({ command: ['echo', 'a b'] }))).toEqual(['echo', 'a b']);
  });

  it('names a noop job "noop" and refuses a command on it', () => {
    expect(parseJobSpec({ type: 'noop' }).name).toBe('noop');
    expect(issuesOf({ type: 'noop', command: ['x'] })[0]!.path).toBe('command');
  });

  it.each([
    [{ command: ['x'], gpus: -1 }, 'gpus'],
    [{ command: ['x'], gpus: 1.5 }, 'gpus'],
    [{ command: ['x'], gpus: 65 }, 'gpus'],
    [{ command: ['x'], gpus: '2' }, 'gpus'],
    [{ command: 'echo hi' }, 'command'],
    [{ command: [] }, 'command'],
    [{ command: [''] }, 'command'],
    [{}, 'command'],
    [{ command: ['x'], shell: 'y' }, 'shell'],
    [{ command: ['x'], queue: 'Bad Queue' }, 'queue'],
    [{ command: ['x'], priority: 1001 }, 'priority'],
    [{ command: ['x'], maxAttempts: 0 }, 'maxAttempts'],
    [{ command: ['x'], timeoutSeconds: 0 }, 'timeoutSeconds'],
    [{ command: ['x'], cwd: 'relative/dir' }, 'cwd'],
    [{ command: ['x'], env: { CUDA_VISIBLE_DEVICES: '0' } }, 'env.CUDA_VISIBLE_DEVICES'],
    [{ command: ['x'], env: { GPUQ_JOB_ID: '1' } }, 'env.GPUQ_JOB_ID'],
    [{ command: ['x'], env: { A: 1 } }, 'env.A'],
    [{ command: ['x'], backoff: { initialSeconds: 10, maxSeconds: 5 } }, 'backoff.maxSeconds'],
    [{ command: ['x'], backoff: { initialSeconds: 1, jitter: true } }, 'backoff'],
    [{ command: ['x'], labels: { '': 'v' } }, 'labels.""'],
  ])('rejects %j naming %s', (input, path) => {
    const issues = issuesOf(input);
    expect(issues.map((i) => i.path)).toContain(path);
    expect(issues.every((i) => i.message.length > 0)).toBe(true);
  });

  it.each([
    [{ command: ['echo', 'a\0b'] }, 'command.1'],
    [{ command: ['x'], env: { A: 'a\0' } }, 'env.A'],
    [{ command: ['x'], labels: { team: 'r\0' } }, 'labels.team'],
    [{ shell: 'echo \0' }, 'shell'],
  ])('refuses a NUL character where the OS or a database cannot take one: %j → %s', (input, path) => {
    const issues = issuesOf(input);
    expect(issues).toContainEqual({ path, message: 'must not contain NUL characters' });
  });

  it('rejects unknown fields by name', () => {
    const issues = issuesOf({ command: ['x'], gpu: 2 });
    expect(issues[0]!.message).toContain('"gpu"');
  });

  it('prefixes paths of a batch member', () => {
    try {
      parseJobSpec({ command: ['x'], gpus: -1 }, ['jobs', 3]);
      expect.unreachable();
    } catch (e) {
      expect((e as ValidationError).issues[0]!.path).toBe('jobs.3.gpus');
      expect((e as ValidationError).message).toMatch(/^jobs\.3\.gpus: /);
    }
  });
});
