import { Command, CommanderError } from 'commander';
import { describe, expect, it } from 'vitest';
import { poolCommand } from '../commands/pool.js';
import { UsageError } from '../output.js';
import { createSpec, flagFields, needsCurrentPolicy, parseNumber, parseSpecFile, splitAtDash, updatePatch } from './spec-flags.js';

describe('splitAtDash', () => {
  it('takes the operands after the raw argv\'s -- as the command', () => {
    const argv = ['node', 'gpuq', 'pool', 'create', 'embed', '--gpus', '1', '--', 'python', 'w.py', '--port', '3'];
    expect(splitAtDash(['embed', 'python', 'w.py', '--port', '3'], argv)).toEqual({ before: ['embed'], command: ['python', 'w.py', '--port', '3'], dash: true });
  });

  it('leaves the name out when only the command follows -- (the name comes from the spec file)', () => {
    const argv = ['node', 'gpuq', 'pool', 'create', '-f', 'spec.json', '--', 'python', 'w.py'];
    expect(splitAtDash(['python', 'w.py'], argv)).toEqual({ before: [], command: ['python', 'w.py'], dash: true });
  });

  it('without --, the first operand is the name and the rest the command', () => {
    expect(splitAtDash(['embed', 'python', 'w.py'], ['node', 'gpuq', 'pool', 'create', 'embed', 'python', 'w.py'])).toEqual({ before: ['embed'], command: ['python', 'w.py'], dash: false });
    expect(splitAtDash([], ['node', 'gpuq', 'pool', 'create'])).toEqual({ before: [], command: [], dash: false });
  });

  it('an empty command after a trailing --', () => {
    expect(splitAtDash(['embed'], ['node', 'gpuq', 'pool', 'update', 'embed', '--'])).toEqual({ before: ['embed'], command: [], dash: true });
  });
});

describe('createSpec', () => {
  const base = { command: [] as string[], flags: {}, cwd: '/home/u/proj' };

  it('builds a spec from NAME, the command and the flags, with the current directory as cwd', () => {
    const spec = createSpec({
      ...base,
      name: 'embed',
      command: ['python', 'w.py'],
      flags: { gpus: 1, memory: 2048, maxReplicas: 4, idleTimeout: 60, grace: 5, env: ['A=1', 'B=x=y'], nodeSelector: ['zone=eu'], killOnOom: false, evictionPriority: -3 },
    });
    expect(spec).toEqual({
      name: 'embed',
      command: ['python', 'w.py'],
      gpus: 1,
      memoryMb: 2048,
      maxReplicas: 4,
      idleTimeoutSeconds: 60,
      graceSeconds: 5,
      env: { A: '1', B: 'x=y' },
      nodeSelector: { zone: 'eu' },
      memoryPolicy: { killOnOom: false, evictionPriority: -3 },
      cwd: '/home/u/proj',
    });
  });

  it('lets NAME, the command and the flags override the file\'s fields, merging the memory flags into its memoryPolicy', () => {
    const file = { name: 'from-file', command: ['old'], gpus: 2, concurrency: 4, env: { KEEP: 'no' }, cwd: '/srv', memoryPolicy: { gpuMemoryLimitMb: 1000, evictionPriority: 5 } };
    const spec = createSpec({ ...base, file, name: 'embed', command: ['new', 'x'], flags: { gpus: 1, env: ['A=1'], gpuMemoryLimit: 2000 } });
    expect(spec).toEqual({ name: 'embed', command: ['new', 'x'], gpus: 1, concurrency: 4, env: { A: '1' }, cwd: '/srv', memoryPolicy: { gpuMemoryLimitMb: 2000, evictionPriority: 5 } });
  });

  it('takes the name and command from the file alone, and resolves --cwd against the current directory', () => {
    expect(createSpec({ ...base, file: { name: 'f', command: ['w'] }, flags: { cwd: 'sub' } })).toEqual({ name: 'f', command: ['w'], cwd: '/home/u/proj/sub' });
  });

  it('refuses a spec without a name or a command, saying where to give them', () => {
    expect(() => createSpec({ ...base, command: ['w'] })).toThrow(/give the pool NAME/);
    expect(() => createSpec({ ...base, name: 'embed' })).toThrow(/worker command after --/);
    expect(() => createSpec({ ...base, name: 'embed', command: ['w'], flags: { env: ['NOEQUALS'] } })).toThrow(UsageError);
  });
});

describe('updatePatch', () => {
  const base = { command: [] as string[], flags: {}, cwd: '/p' };

  it('holds only what was given', () => {
    expect(updatePatch({ ...base, flags: { maxReplicas: 8, taskTimeout: 30 } })).toEqual({ maxReplicas: 8, taskTimeoutSeconds: 30 });
    expect(updatePatch({ ...base, command: ['python', 'v2.py'] })).toEqual({ command: ['python', 'v2.py'] });
    expect(updatePatch({ ...base, file: { concurrency: 2 }, flags: { concurrency: 3 } })).toEqual({ concurrency: 3 });
  });

  it('merges a memory flag into the pool\'s current memory policy, since the API replaces the field whole', () => {
    const current = { killOnOom: true, gpuMemoryLimitMb: 7000, evictionPriority: 2 };
    expect(needsCurrentPolicy({ killOnOom: false }, undefined)).toBe(true);
    expect(updatePatch({ ...base, flags: { killOnOom: false }, current })).toEqual({ memoryPolicy: { killOnOom: false, gpuMemoryLimitMb: 7000, evictionPriority: 2 } });
    // A memoryPolicy in the file is the base instead; the pool's is not needed.
    expect(needsCurrentPolicy({ killOnOom: false }, { memoryPolicy: { evictionPriority: 1 } })).toBe(false);
    expect(updatePatch({ ...base, file: { memoryPolicy: { evictionPriority: 1 } }, flags: { killOnOom: false } })).toEqual({ memoryPolicy: { evictionPriority: 1, killOnOom: false } });
    expect(needsCurrentPolicy({ gpus: 1 }, undefined)).toBe(false);
  });

  it('refuses an empty update', () => {
    expect(() => updatePatch(base)).toThrow(/nothing to change/);
  });
});

describe('flag values', () => {
  it('parses plain numbers only', () => {
    expect(parseNumber('4')).toBe(4);
    expect(parseNumber('-3')).toBe(-3);
    expect(parseNumber('0.5')).toBe(0.5);
    for (const bad of ['', 'abc', '1e3', '0x10', '4gb', 'NaN']) expect(() => parseNumber(bad)).toThrow(/must be a number/);
  });

  it('maps each flag to its field', () => {
    expect(flagFields({ cpus: 2, minReplicas: 1, targetBacklog: 5, startTimeout: 9, maxAttempts: 2 }, '/')).toEqual({
      fields: { cpus: 2, minReplicas: 1, targetBacklog: 5, startTimeoutSeconds: 9, maxAttempts: 2 },
      memoryPolicy: {},
    });
  });

  it('reads a spec file as one JSON object', () => {
    expect(parseSpecFile('s.json', '{"name": "a"}')).toEqual({ name: 'a' });
    expect(() => parseSpecFile('s.json', '{"name": ')).toThrow(/s\.json: not valid JSON/);
    expect(() => parseSpecFile('s.json', '[1]')).toThrow(/one JSON object/);
  });
});

describe('gpuq pool argument parsing', () => {
  /** Parses a command line against the real `pool` command; resolves with commander's refusal code, if any. */
  async function refusal(args: string[]): Promise<string | null> {
    const program = new Command('gpuq').exitOverride().configureOutput({ writeErr: () => {}, writeOut: () => {} });
    const cmd = program.command('pool');
    poolCommand.register(cmd);
    const all = [cmd, ...cmd.commands];
    for (const c of all) c.exitOverride().configureOutput({ writeErr: () => {}, writeOut: () => {} });
    try {
      await program.parseAsync(['node', 'gpuq', 'pool', ...args]);
      return null;
    } catch (e) {
      if (e instanceof CommanderError) return e.code;
      throw e;
    }
  }

  it('refuses unknown flags and flags that are not numbers before anything is sent', async () => {
    expect(await refusal(['create', 'embed', '--gpu', '1', '--', 'w'])).toBe('commander.unknownOption');
    expect(await refusal(['create', 'embed', '--gpus', 'two', '--', 'w'])).toBe('commander.invalidArgument');
    expect(await refusal(['update', 'embed', '--replicas', '3'])).toBe('commander.unknownOption');
    expect(await refusal(['submit', 'embed', '--payload'])).toBe('commander.optionMissingArgument');
    expect(await refusal(['task', 'embed'])).toBe('commander.missingArgument');
    expect(await refusal(['no-such-sub'])).toBe('commander.unknownCommand');
  });
});
