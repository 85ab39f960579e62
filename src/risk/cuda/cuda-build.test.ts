/**
 * The CUDA engine without a GPU: risk-engine.cu compiled by the real nvcc into a scratch cache, the
 * cache's behaviour (with a stand-in nvcc, to keep it fast), the binary's host-side self-tests against
 * the TypeScript reference, its CPU emulation against the CPU engine and the closed form, and the
 * error a machine without a GPU gives. Skipped, saying why, where nvcc is missing (CI checks it is there).
 */
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { spawn } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { lognormalVarEs } from '../closed-forms.js';
import { runRiskCpu } from '../cpu-engine.js';
import { finishRun } from '../engine.js';
import { compileModel } from '../model.js';
import { validatePortfolio, type PortfolioInput } from '../portfolio.js';
import { tailKeep } from '../statistics.js';
import { histogramSpec } from '../tail-merge.js';
import { buildCudaEngine, cudaBuildHash, cudaSourcePath, findCachedBinary, findNvcc, type CudaBinary } from './cuda-build.js';
import { cudaAvailable, runBinary, runRiskCuda, simulateRangeCuda, simulateRangeCudaTimed } from './cuda-engine.js';
import { cudaEnvironment } from './cuda-environment.js';
import { CudaBuildError, CudaEngineError } from './cuda-errors.js';
import { philox4x32, PHILOX_KNOWN_ANSWERS, referenceNormals, seedKey, unitCounter } from './philox.js';

const nvcc = findNvcc();
const hasGpu = existsSync('/dev/nvidiactl');
// One target keeps the compile near 20 s on a 2-core machine (the default set of three takes about 35 s).
const TEST_GENCODE = ['-gencode', 'arch=compute_90,code=sm_90'];
const scratch = mkdtempSync(path.join(os.tmpdir(), 'gpuq-cuda-test-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const hex = (ws: ArrayLike<number>) => Array.from(ws, (w) => w.toString(16).padStart(8, '0')).join(' ');

describe('the build cache, with a stand-in nvcc', () => {
  // A shell script that answers --version, logs each compile and "compiles" by writing a script that
  // prints the source's first line; a source containing FAIL makes it fail like nvcc does.
  const dir = path.join(scratch, 'fake');
  const fake = path.join(dir, 'nvcc');
  const log = path.join(dir, 'calls.log');
  const src = path.join(dir, 'engine.cu');
  beforeAll(() => {
    mkdirSync(dir, { recursive: true });
    writeFileSync(
      fake,
      [
        '#!/bin/sh',
        'if [ "$1" = --version ]; then echo "fake nvcc 1.0"; exit 0; fi',
        `echo "$@" >> ${log}`,
        'while [ $# -gt 1 ]; do if [ "$1" = -o ]; then out=$2; fi; shift; done',
        'if grep -q FAIL "$1"; then echo "$1(3): error: identifier \\"FAIL\\" is undefined" >&2; exit 1; fi',
        'sleep 0.3',
        'if grep -q SLOW "$1"; then sleep 2; fi',
        'printf "#!/bin/sh\\necho %s\\n" "$(head -1 "$1")" > "$out"; chmod +x "$out"',
      ].join('\n'),
    );
    chmodSync(fake, 0o755);
    writeFileSync(src, 'version-one\n');
  });
  const opts = () => ({ nvcc: fake, cacheDir: path.join(dir, 'cache'), source: src, gencode: ['-arch=sm_90'] });
  const calls = () => (existsSync(log) ? readFileSync(log, 'utf8').trim().split('\n').length : 0);

  it('compiles once into <cache>/gpuq/cuda/<hash>/risk-engine; concurrent first uses share the compile; later calls hit the cache', async () => {
    const [a, b] = await Promise.all([buildCudaEngine(opts()), buildCudaEngine(opts())]);
    expect(calls()).toBe(1);
    expect(a.path).toBe(path.join(dir, 'cache', 'gpuq', 'cuda', a.hash, 'risk-engine'));
    expect(b.path).toBe(a.path);
    expect(a.compiled).toBe(true);
    expect(await runBinary(a.path, [])).toBe('version-one\n');
    const again = await buildCudaEngine(opts());
    expect(again).toMatchObject({ path: a.path, compiled: false, compileSeconds: 0 });
    expect(calls()).toBe(1);
    const record = JSON.parse(readFileSync(path.join(path.dirname(a.path), 'build.json'), 'utf8'));
    expect(record).toMatchObject({ nvccVersion: 'fake nvcc 1.0', flags: ['-O3', '-std=c++17', '-arch=sm_90'] });
  });

  it('processes starting at once (a run\'s shards on one host) compile once: the others wait on the build lock', async () => {
    const slow = path.join(dir, 'slow.cu');
    writeFileSync(slow, 'SLOW version\n');
    const before = calls();
    const dist = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../dist/risk/cuda/cuda-build.js');
    const script = `const m = await import(${JSON.stringify(dist)}); const b = await m.buildCudaEngine(${JSON.stringify({ ...opts(), source: slow })}); console.log(b.path);`;
    const outputs = await Promise.all(
      [1, 2, 3].map(
        () =>
          new Promise<string>((resolve, reject) => {
            const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
            let out = '';
            child.stdout.on('data', (d: Buffer) => (out += d.toString()));
            child.once('exit', (code) => (code === 0 ? resolve(out.trim()) : reject(new Error(`builder exited with ${code}`))));
          }),
      ),
    );
    expect(calls() - before).toBe(1);
    expect(new Set(outputs).size).toBe(1);
    expect(await runBinary(outputs[0]!, [])).toBe('SLOW version\n');
    expect(existsSync(path.join(path.dirname(outputs[0]!), '.lock'))).toBe(false);
  });

  it('a changed source, nvcc or flag set builds beside the old binary under a new hash', async () => {
    const first = await buildCudaEngine(opts());
    writeFileSync(src, 'version-two\n');
    const second = await buildCudaEngine(opts());
    expect(second.hash).not.toBe(first.hash);
    expect(await runBinary(second.path, [])).toBe('version-two\n');
    expect(await runBinary(first.path, [])).toBe('version-one\n');
    const third = await buildCudaEngine({ ...opts(), gencode: ['-arch=sm_80'] });
    expect(third.hash).not.toBe(second.hash);
    expect(cudaBuildHash('x', 'nvcc 13.0', ['-O3'])).not.toBe(cudaBuildHash('x', 'nvcc 13.1', ['-O3']));
  });

  it('without nvcc a cached build of the same source and flags is used; without either, NvccNotFoundError', async () => {
    const built = await buildCudaEngine(opts());
    const noNvcc = { ...opts(), nvcc: undefined, environment: { ...cudaEnvironment(), searchPath: [], cudaHome: undefined } };
    expect(findCachedBinary(noNvcc)).toBe(built.path);
    expect((await buildCudaEngine(noNvcc)).path).toBe(built.path);
    await expect(buildCudaEngine({ ...noNvcc, cacheDir: path.join(dir, 'empty') })).rejects.toThrow(/nvcc \(the CUDA compiler\) was not found/);
  });

  it('an nvcc failure is a CudaBuildError carrying its output, and leaves nothing in the cache', async () => {
    writeFileSync(src, 'FAIL\n');
    const err = await buildCudaEngine(opts()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CudaBuildError);
    expect((err as CudaBuildError).output).toMatch(/identifier "FAIL" is undefined/);
    expect((err as Error).message).toMatch(/compiling the CUDA risk engine failed/);
    const { command } = err as CudaBuildError;
    const binary = command[command.indexOf('-o') + 1]!;
    expect(existsSync(binary)).toBe(false);
    expect(readdirSync(path.dirname(binary))).toEqual([]); // nvcc's temporary output and the source copy removed
  });
});

describe.skipIf(!nvcc)(nvcc ? `risk-engine.cu with the real nvcc (${nvcc})` : 'risk-engine.cu with the real nvcc: SKIPPED, nvcc is not on PATH (CI asserts it is)', () => {
  let bin: CudaBinary;
  const options = { cacheDir: path.join(scratch, 'cache'), gencode: TEST_GENCODE };
  beforeAll(async () => {
    bin = await buildCudaEngine(options);
  }, 240_000);

  it('compiles to an executable in the cache; the second use hits the cache without recompiling', async () => {
    expect(bin.compiled).toBe(true);
    console.info(`nvcc ${TEST_GENCODE.join(' ')}: ${bin.compileSeconds.toFixed(1)} s`);
    const before = statSync(bin.path);
    expect(before.mode & 0o111).not.toBe(0);
    const t = performance.now();
    const again = await buildCudaEngine(options);
    expect(performance.now() - t).toBeLessThan(2000);
    expect(again).toMatchObject({ path: bin.path, hash: bin.hash, compiled: false });
    const after = statSync(again.path);
    expect([after.ino, after.mtimeMs]).toEqual([before.ino, before.mtimeMs]);
    const source = readFileSync(cudaSourcePath(), 'utf8');
    const record = JSON.parse(readFileSync(path.join(path.dirname(bin.path), 'build.json'), 'utf8'));
    expect(cudaBuildHash(source, record.nvccVersion, record.flags)).toBe(bin.hash);
    expect(cudaBuildHash(`${source}\n// changed\n`, record.nvccVersion, record.flags)).not.toBe(bin.hash);
  });

  it("the binary's Philox (host build of the device code path) gives Random123's known answers and equals the TypeScript reference", async () => {
    const selftest = await runBinary(bin.path, ['selftest']);
    expect(selftest).toMatch(/KAT 00000000…: ok\n.*ok\n.*ok\n/);
    expect(selftest).toMatch(/fixed-D walks equal the general walk \(D = 1…16\): ok\nradix selection keeps exactly the largest keys, ties too: ok/);
    for (const k of PHILOX_KNOWN_ANSWERS) {
      const out = await runBinary(bin.path, ['philox', ...[...k.key, ...k.counter].map((w) => w.toString(16)), '1', '--host']);
      expect(out.trim()).toBe(hex(k.expected));
    }
    // Unit 2^32 + 3 of seed 2^40 + 9: both counter words and both key words in play.
    const [k0, k1] = seedKey(String(2 ** 40 + 9));
    const ctr = unitCounter(2 ** 32 + 3, 0);
    const lines = (await runBinary(bin.path, ['philox', k0.toString(16), k1.toString(16), ...ctr.map((w) => w.toString(16)), '5', '--host'])).trim().split('\n');
    expect(lines).toEqual([0, 1, 2, 3, 4].map((j) => hex(philox4x32(unitCounter(2 ** 32 + 3, j), [k0, k1]))));
  });

  it("the binary's normals follow the stream layout of the TypeScript reference (to float precision)", async () => {
    const seed = String(2 ** 40 + 9);
    const got = (await runBinary(bin.path, ['normals', seed, String(2 ** 32 + 3), '23', '--host'])).trim().split('\n').map(Number);
    const want = referenceNormals(seed, 2 ** 32 + 3, 23);
    expect(got).toHaveLength(23);
    got.forEach((z, i) => expect(Math.abs(z - want[i]!)).toBeLessThan(1e-5 * (1 + Math.abs(want[i]!))));
  });

  it.skipIf(hasGpu)('without a GPU the engine fails with a clear "no CUDA device" error', async () => {
    const err = await runBinary(bin.path, ['philox', '0', '0', '0', '0', '0', '0']).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CudaEngineError);
    expect((err as CudaEngineError).failure).toBe('no-device');
    expect((err as CudaEngineError).exitCode).toBe(3);
    expect((err as Error).message).toMatch(/^the CUDA risk engine exited with 3: risk-engine: no CUDA device: cudaGetDeviceCount: cudaError\w+: /);
    const run = await runRiskCuda(single({ paths: 4096 }), options).catch((e: unknown) => e);
    expect(run).toBeInstanceOf(CudaEngineError);
    expect((run as Error).message).toMatch(/no CUDA device/);
    expect(cudaAvailable(options)).toEqual({ ok: false, reason: expect.stringMatching(/no CUDA device is present \(\/dev\/nvidiactl missing/) });
  });

  describe('CPU emulation of the kernels', () => {
    const emulated = { ...options, emulate: true };

    it('single asset: VaR and ES at 99 % within 4 SE of the closed form; device named as emulation', async () => {
      const r = await runRiskCuda(single({ paths: 1_000_000 }), emulated);
      const exact = lognormalVarEs(100, 0.08, 0.25, 10 / 252, 0.99);
      const l = r.levels[0]!;
      expect(r.engine).toBe('cuda');
      expect(r.devices).toEqual(['CPU emulation of the CUDA engine (no GPU)']);
      expect(Math.abs(l.valueAtRisk - exact.valueAtRisk)).toBeLessThan(4 * l.valueAtRiskSe);
      expect(Math.abs(l.expectedShortfall - exact.expectedShortfall)).toBeLessThan(4 * l.expectedShortfallSe);
      expect(Math.abs(r.mean - 100 * Math.expm1((0.08 * 10) / 252))).toBeLessThan(4 * r.meanSe);
    });

    it('agrees with the CPU engine on a correlated portfolio with options: mean, VaR, ES within 4 combined SE', async () => {
      const p = basket(1_000_000);
      const [gpu, cpu] = [await runRiskCuda(p, emulated), await runRiskCpu(p, { workers: 0 })];
      const within = (a: number, sa: number, b: number, sb: number) => expect(Math.abs(a - b)).toBeLessThan(4 * Math.hypot(sa, sb));
      within(gpu.mean, gpu.meanSe, cpu.mean, cpu.meanSe);
      for (let i = 0; i < cpu.levels.length; i++) {
        const [g, c] = [gpu.levels[i]!, cpu.levels[i]!];
        within(g.valueAtRisk, g.valueAtRiskSe, c.valueAtRisk, c.valueAtRiskSe);
        within(g.expectedShortfall, g.expectedShortfallSe, c.expectedShortfall, c.expectedShortfallSe);
      }
      expect(gpu.paths).toBe(cpu.paths);
      expect(gpu.histogram.counts.reduce((a, b) => a + b, 0) + gpu.histogram.underflow + gpu.histogram.overflow).toBe(gpu.paths);
    });

    it('a run split into two ranges (any chunking) and reduced by finishRun equals one range, bit for bit', async () => {
      const portfolio = validatePortfolio({ ...basket(200_000), antithetic: false, paths: 200_001 });
      const model = compileModel(portfolio);
      const keep = tailKeep(model.paths, portfolio.confidenceLevels);
      const hist = histogramSpec(model);
      const whole = finishRun(portfolio, model, keep, hist, [await simulateRangeCuda(model, keep, hist, 0, model.blocks, emulated)]);
      const cut = 77;
      // Chunks of 5 blocks: the tail threshold rises and the selection runs many times within the range.
      const chunked = await simulateRangeCudaTimed(model, keep, hist, cut, model.blocks, { ...emulated, chunkBlocks: 5 });
      expect(chunked.timing.selections).toBeGreaterThan(3);
      const parts = [chunked.output, await simulateRangeCuda(model, keep, hist, 0, cut, emulated)];
      expect(JSON.stringify(finishRun(portfolio, model, keep, hist, parts))).toBe(JSON.stringify(whole));
      expect(whole.paths).toBe(200_001);
    });

    it('refuses what it cannot run before starting the binary', async () => {
      const model = compileModel(validatePortfolio(single({ paths: 4096 })));
      const hist = histogramSpec(model);
      await expect(simulateRangeCuda(model, 10, hist, 2, 1, emulated)).rejects.toThrow(/not a non-empty range/);
      await expect(simulateRangeCuda(model, 10, { ...hist, bins: 9000 }, 0, 1, emulated)).rejects.toThrow(/histogram bins/);
    });
  });
});

describe('cudaAvailable', () => {
  const env = cudaEnvironment();
  const driver = path.join(scratch, 'nvidiactl');
  beforeAll(() => writeFileSync(driver, ''));

  it('needs the NVIDIA driver, a GPU CUDA_VISIBLE_DEVICES leaves visible, and nvcc or a cached build', () => {
    expect(cudaAvailable({ environment: env }, path.join(scratch, 'no-such-node'))).toEqual({ ok: false, reason: expect.stringMatching(/^no CUDA device is present \(.*no-such-node missing/) });
    for (const hidden of ['', '-1']) {
      expect(cudaAvailable({ environment: { ...env, visibleDevices: hidden } }, driver)).toEqual({ ok: false, reason: `CUDA_VISIBLE_DEVICES="${hidden}" hides every GPU` });
    }
    const noNvcc = { ...env, searchPath: [], cudaHome: undefined, visibleDevices: '0' };
    expect(cudaAvailable({ environment: noNvcc, cacheDir: path.join(scratch, 'empty-cache') }, driver)).toEqual({ ok: false, reason: expect.stringMatching(/nvcc was not found/) });
    expect(cudaAvailable({ environment: noNvcc, source: path.join(scratch, 'missing.cu') }, driver)).toEqual({ ok: false, reason: expect.stringMatching(/missing\.cu/) });
    if (nvcc) expect(cudaAvailable({ environment: { ...env, visibleDevices: '0' } }, driver)).toEqual({ ok: true });
  });
});

function single(over: Partial<PortfolioInput> = {}): PortfolioInput {
  return {
    assets: [{ id: 'S', spot: 100, drift: 0.08, volatility: 0.25, position: 1 }],
    horizonDays: 10,
    steps: 10,
    confidenceLevels: [0.99],
    paths: 1_000_000,
    seed: 20260101,
    ...over,
  };
}

/** Three correlated assets, a repriced put and a call expiring at the horizon (payoff): every P&L term. */
function basket(paths: number): PortfolioInput {
  return {
    assets: [
      { id: 'A', spot: 100, drift: 0.08, volatility: 0.25, position: 1 },
      { id: 'B', spot: 30, drift: 0.03, volatility: 0.45, position: -2 },
      { id: 'C', spot: 55, drift: 0.05, volatility: 0.2, position: 3 },
    ],
    correlation: [[1, 0.3, -0.2], [0.3, 1, 0.5], [-0.2, 0.5, 1]],
    options: [
      { asset: 'A', type: 'put', strike: 95, expiry: 0.25, position: 2 },
      { asset: 'C', type: 'call', strike: 56, expiry: 10 / 252, position: -1 },
    ],
    horizonDays: 10,
    steps: 10,
    confidenceLevels: [0.95, 0.99],
    paths,
    seed: 7,
  };
}
