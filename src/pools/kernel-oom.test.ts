import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { kernelOomKills } from './kernel-oom.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'gpuq-vmstat-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('kernelOomKills', () => {
  it('reads oom_kill from a vmstat file, and null where it is missing or has no such line', () => {
    const file = path.join(dir, 'vmstat');
    writeFileSync(file, 'nr_free_pages 12\noom_kill 42\npgfault 3\n');
    expect(kernelOomKills(file)).toBe(42);
    writeFileSync(file, 'nr_free_pages 12\n');
    expect(kernelOomKills(file)).toBeNull();
    expect(kernelOomKills(path.join(dir, 'missing'))).toBeNull();
  });
});
