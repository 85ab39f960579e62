import { appendFileSync, mkdtempSync, readFileSync, rmSync, unlinkSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { AttemptLog } from './attempt-log.js';

// Real files. The "job" appends through its own O_APPEND descriptor, as a job's stdout does.
const root = mkdtempSync(path.join(os.tmpdir(), 'gpuq-log-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
const fresh = (cap: number) => {
  const file = path.join(root, `${n++}.log`);
  return { file, log: AttemptLog.open(file, cap), read: () => readFileSync(file, 'utf8') };
};

describe('AttemptLog', () => {
  it('leaves a log under its cap alone, and creates it even when the job prints nothing', () => {
    const { file, log, read } = fresh(10);
    log.enforceCap();
    expect(read()).toBe('');
    appendFileSync(file, '0123456789');
    log.close();
    expect(read()).toBe('0123456789');
    expect(log.truncated).toBe(false);
  });

  it('cuts to the head and one line, adding a newline when the head ends mid-line', () => {
    const { file, log, read } = fresh(5);
    appendFileSync(file, 'abcdefgh');
    log.enforceCap();
    expect(read()).toBe('abcde\n[gpuq] log truncated at 5 bytes\n');
    expect(log.truncated).toBe(true);
    log.close();
  });

  it('does not add a newline when the head ends with one', () => {
    const { file, log, read } = fresh(4);
    appendFileSync(file, 'abc\ndef\n');
    log.close();
    expect(read()).toBe('abc\n[gpuq] log truncated at 4 bytes\n');
  });

  it('cuts what the job appends after the line, keeping the line once', () => {
    const { file, log, read } = fresh(3);
    appendFileSync(file, 'xyz\nmore');
    log.enforceCap();
    appendFileSync(file, 'later output');
    expect(read()).toBe('xyz\n[gpuq] log truncated at 3 bytes\nlater output');
    log.enforceCap();
    expect(read()).toBe('xyz\n[gpuq] log truncated at 3 bytes\n');
    appendFileSync(file, 'and more');
    log.close();
    expect(read()).toBe('xyz\n[gpuq] log truncated at 3 bytes\n');
  });

  it('says why when the file cannot be cut, and stops trying', () => {
    const { file, log } = fresh(3);
    appendFileSync(file, 'abcdef');
    unlinkSync(file); // still open, so still measurable, but there is nothing to open and cut
    log.enforceCap();
    expect(log.error?.message).toMatch(/ENOENT/);
    expect(log.truncated).toBe(false);
    log.close();
  });
});
