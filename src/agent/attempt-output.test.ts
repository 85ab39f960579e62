import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { text } from 'node:stream/consumers';
import { afterAll, describe, expect, it } from 'vitest';
import { artifactNameProblem, OUTPUT_LIMITS } from '../core/job-output.js';
import { attemptArtifactsDir, collectAttemptOutput, listArtifacts, openArtifact, resultFilePath } from './attempt-output.js';

const root = mkdtempSync(path.join(os.tmpdir(), 'gpuq-output-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
/** A fresh artifacts directory with these files (a string is written as is). */
function dirWith(files: Record<string, string | Buffer> = {}): string {
  const dir = attemptArtifactsDir(root, ++n, 1);
  mkdirSync(dir, { recursive: true });
  for (const [name, content] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
    writeFileSync(path.join(dir, name), content);
  }
  return dir;
}

describe('collectAttemptOutput', () => {
  it('keeps a JSON result as written, and lists every regular file with its size', async () => {
    const dir = dirWith({ 'result.json': '\uFEFF {"var": 1.50, "big": 12345678901234567890}\n', 'plots/loss.png': Buffer.alloc(300), 'z.txt': 'hi' });
    expect(resultFilePath(dir)).toBe(path.join(dir, 'result.json'));
    const out = await collectAttemptOutput(dir);
    expect(out).toEqual({
      result: '{"var": 1.50, "big": 12345678901234567890}',
      note: null,
      artifacts: [
        { name: 'plots/loss.png', bytes: 300 },
        { name: 'result.json', bytes: 47 },
        { name: 'z.txt', bytes: 2 },
      ],
    });
  });

  it('reports nothing for an attempt that left nothing, or never got its directory', async () => {
    expect(await collectAttemptOutput(dirWith())).toEqual({ result: null, note: null, artifacts: [] });
    expect(await collectAttemptOutput(path.join(root, 'never-created'))).toEqual({ result: null, note: null, artifacts: [] });
  });

  it('does not keep a result that is not JSON, empty or too big, and says why; the file stays an artifact', async () => {
    const bad = await collectAttemptOutput(dirWith({ 'result.json': '{"unterminated": ' }));
    expect(bad).toMatchObject({ result: null, note: expect.stringMatching(/^result not kept: result\.json is not valid JSON/), artifacts: [{ name: 'result.json', bytes: 17 }] });
    expect((await collectAttemptOutput(dirWith({ 'result.json': '  \n' }))).note).toBe('result not kept: result.json is empty');
    const big = await collectAttemptOutput(dirWith({ 'result.json': `"${'x'.repeat(OUTPUT_LIMITS.maxResultBytes)}"` }));
    expect(big.result).toBeNull();
    expect(big.note).toBe('result not kept: result.json is 1.0 MiB, over the 1.0 MiB limit (it is still listed as an artifact)');
    // Exactly at the limit is kept.
    const edge = `"${'x'.repeat(OUTPUT_LIMITS.maxResultBytes - 2)}"`;
    expect((await collectAttemptOutput(dirWith({ 'result.json': edge }))).result).toBe(edge);
  });

  it('lists neither symbolic links nor what they lead to, and caps the list', async () => {
    const dir = dirWith({ 'a.txt': 'a' });
    symlinkSync('/etc/passwd', path.join(dir, 'passwd'));
    symlinkSync('/etc', path.join(dir, 'etc'));
    expect((await listArtifacts(dir)).artifacts).toEqual([{ name: 'a.txt', bytes: 1 }]);

    const many = dirWith(Object.fromEntries(Array.from({ length: OUTPUT_LIMITS.maxArtifacts + 5 }, (_, i) => [`f${String(i).padStart(4, '0')}`, ''])));
    const out = await collectAttemptOutput(many);
    expect(out.artifacts).toHaveLength(OUTPUT_LIMITS.maxArtifacts);
    expect(out.artifacts[0]!.name).toBe('f0000');
    expect(out.note).toMatch(/^5 more artifact file\(s\) not listed/);
  });
});

describe('openArtifact', () => {
  it('opens a regular file inside the directory, and nothing outside it', async () => {
    const dir = dirWith({ 'sub/data.bin': 'payload', 'empty': '' });
    symlinkSync('/etc/passwd', path.join(dir, 'link'));
    symlinkSync(path.join(dir, 'sub/data.bin'), path.join(dir, 'inside-link'));
    const file = await openArtifact(dir, 'sub/data.bin');
    expect(file?.bytes).toBe(7);
    expect(await text(file!.stream)).toBe('payload');
    const empty = await openArtifact(dir, 'empty');
    expect(empty?.bytes).toBe(0);
    expect(await text(empty!.stream)).toBe('');
    expect(await openArtifact(dir, 'link')).toBeNull();
    expect(await openArtifact(dir, 'sub')).toBeNull();
    expect(await openArtifact(dir, 'missing')).toBeNull();
    // A link that stays inside is the file it names (never listed, so never served by the API, but harmless).
    expect((await openArtifact(dir, 'inside-link'))?.bytes).toBe(7);
  });
});

describe('artifactNameProblem', () => {
  it.each(['a.txt', 'plots/loss.png', 'a b/c..d', '.hidden', 'x/.y'])('accepts %j', (name) => expect(artifactNameProblem(name)).toBeNull());
  it.each(['', '/etc/passwd', '../x', 'a/../../x', 'a//b', './a', 'a/', 'a\0b', 'é'.repeat(600)])('refuses %j', (name) => expect(artifactNameProblem(name)).not.toBeNull());
});
