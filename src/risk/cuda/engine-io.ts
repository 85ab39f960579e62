/**
 * The files between the TypeScript side and the CUDA engine binary (risk-engine.cu documents both
 * layouts at its top): the params file it reads (text, one record per line, every double printed as
 * JavaScript's shortest round-trip form, which strtod reads back exactly) and the output file it
 * writes (binary, little-endian). Pure: strings and bytes in, strings and arrays out.
 */
import type { SimulationModel } from '../model.js';
import type { HistogramSpec } from '../tail-merge.js';
import { BLOCK_STAT_FIELDS } from '../tail-merge.js';

/** What the binary accepts (its constant memory is sized for these). */
export const CUDA_LIMITS = Object.freeze({ assets: 64, options: 256, histogramBins: 8192, keep: 2 ** 31 });

const MAGIC = 'GPUQRE01';
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
const HEADER_BYTES = 8 + 7 * 8 + 8;

/** Why a model cannot run on the CUDA engine, or undefined when it can. */
export function cudaUnsupported(model: SimulationModel, hist: HistogramSpec): string | undefined {
  if (model.assets > CUDA_LIMITS.assets) return `the CUDA engine takes at most ${CUDA_LIMITS.assets} assets, the portfolio has ${model.assets}`;
  if (model.options.length > CUDA_LIMITS.options) return `the CUDA engine takes at most ${CUDA_LIMITS.options} options, the portfolio has ${model.options.length}`;
  if (hist.bins > CUDA_LIMITS.histogramBins) return `the CUDA engine takes at most ${CUDA_LIMITS.histogramBins} histogram bins, not ${hist.bins}`;
  return undefined;
}

const num = (x: number): string => {
  if (!Number.isFinite(x)) throw new RangeError(`the CUDA engine's params take finite numbers only, got ${x}`);
  return String(x);
};
const nums = (xs: readonly number[]): string => xs.map(num).join(' ');

/** The params file for blocks [firstBlock, endBlock) of `model`, `chunkBlocks` blocks per kernel launch. */
export function encodeParams(model: SimulationModel, keep: number, hist: HistogramSpec, firstBlock: number, endBlock: number, chunkBlocks: number): string {
  const lines = [
    'gpuq-risk-params 1',
    `seed ${BigInt(model.seed).toString()}`,
    `paths ${model.paths}`,
    `block_size ${model.blockSize}`,
    `first_block ${firstBlock}`,
    `end_block ${endBlock}`,
    `steps ${model.steps}`,
    `assets ${model.assets}`,
    `antithetic ${model.antithetic ? 1 : 0}`,
    `rate ${num(model.rate)}`,
    `keep ${keep}`,
    `chunk_blocks ${chunkBlocks}`,
    `hist ${num(hist.min)} ${num(hist.width)} ${hist.bins}`,
    `step_drift ${nums(model.stepDrift)}`,
    `step_vol ${nums(model.stepVol)}`,
    `spot ${nums(model.spot)}`,
    `units ${nums(model.units)}`,
    `lower ${nums(model.lower)}`,
    `options ${model.options.length}`,
    ...model.options.map((o) => `option ${o.asset} ${o.call ? 1 : 0} ${nums([o.strike, o.remainingYears, o.position, o.vol, o.initialValue])}`),
    'end',
  ];
  return `${lines.join('\n')}\n`;
}

/** The binary's output for one range. */
export interface EngineOutput {
  firstBlock: number;
  endBlock: number;
  paths: number;
  device: string;
  seconds: number;
  blockStats: Float64Array;
  histogram: Float64Array;
  tail: Float64Array;
}

/** Reads the output file's bytes; throws on a malformed or truncated file. */
export function decodeOutput(bytes: Uint8Array): EngineOutput {
  if (bytes.length < HEADER_BYTES) throw new Error(`CUDA engine output is ${bytes.length} bytes, shorter than its header`);
  const magic = String.fromCharCode(...bytes.subarray(0, 8));
  if (magic !== MAGIC) throw new Error(`CUDA engine output starts with "${magic}", not "${MAGIC}": a binary from another version?`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const u64 = (i: number) => Number(view.getBigUint64(8 + 8 * i, true));
  const [firstBlock, endBlock, paths, blocks, histLength, tailLength, nameLength] = [0, 1, 2, 3, 4, 5, 6].map(u64) as [number, number, number, number, number, number, number];
  const seconds = view.getFloat64(8 + 7 * 8, true);
  let at = HEADER_BYTES;
  const device = new TextDecoder().decode(bytes.subarray(at, at + nameLength));
  at += Math.ceil(nameLength / 8) * 8;
  const expected = at + 8 * (blocks * BLOCK_STAT_FIELDS + histLength + tailLength);
  if (bytes.length !== expected) throw new Error(`CUDA engine output is ${bytes.length} bytes, its header says ${expected}`);
  const doubles = (count: number): Float64Array => {
    const out = new Float64Array(count);
    // One aligned copy of the bytes (`bytes` may be a Buffer: its slice() is a view, not a copy).
    if (LITTLE_ENDIAN) new Uint8Array(out.buffer).set(bytes.subarray(at, at + 8 * count));
    else for (let i = 0; i < count; i++) out[i] = view.getFloat64(at + 8 * i, true);
    at += 8 * count;
    return out;
  };
  const blockStats = doubles(blocks * BLOCK_STAT_FIELDS);
  const histogram = doubles(histLength);
  const tail = doubles(tailLength);
  return { firstBlock, endBlock, paths, device, seconds, blockStats, histogram, tail };
}
