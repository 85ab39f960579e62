/**
 * A shard's output on disk: what one engine computed over a range of blocks (engine.ts RangeOutput),
 * for the reduce job to merge. Binary, so the tail (up to millions of losses) is written as it is held:
 *
 *   "GPQRNG01" | u32 header length | header (JSON) | zero padding to 8 | float64 values, little-endian
 *
 * The header names the run, the engine and, for each shard summary and tail, how many values follow;
 * the values are, in order, each summary's block statistics then histogram, then each tail.
 */
import type { RangeOutput } from './engine.js';

const MAGIC = 'GPQRNG01';

interface RangeHeader {
  runId: string;
  shard: number;
  engine: RangeOutput['engine'];
  device: string;
  firstBlock: number;
  endBlock: number;
  seconds: number;
  shards: { firstBlock: number; endBlock: number; paths: number; stats: number; histogram: number }[];
  tails: number[];
}

export function encodeRange(runId: string, shard: number, out: RangeOutput): Uint8Array {
  const header: RangeHeader = {
    runId,
    shard,
    engine: out.engine,
    device: out.device,
    firstBlock: out.firstBlock,
    endBlock: out.endBlock,
    seconds: out.seconds,
    shards: out.shards.map((s) => ({ firstBlock: s.firstBlock, endBlock: s.endBlock, paths: s.paths, stats: s.blockStats.length, histogram: s.histogram.length })),
    tails: out.tails.map((t) => t.length),
  };
  const json = new TextEncoder().encode(JSON.stringify(header));
  const start = align8(MAGIC.length + 4 + json.length);
  const arrays = [...out.shards.flatMap((s) => [s.blockStats, s.histogram]), ...out.tails];
  const bytes = new Uint8Array(start + 8 * arrays.reduce((n, a) => n + a.length, 0));
  bytes.set(new TextEncoder().encode(MAGIC), 0);
  new DataView(bytes.buffer).setUint32(MAGIC.length, json.length, true);
  bytes.set(json, MAGIC.length + 4);
  const values = new DataView(bytes.buffer, start);
  let at = 0;
  for (const a of arrays) for (let i = 0; i < a.length; i++, at += 8) values.setFloat64(at, a[i]!, true);
  return bytes;
}

export class RangeFileError extends Error {}

/** Decodes a range file, checking it belongs to `runId` and is complete. */
export function decodeRange(bytes: Uint8Array, runId: string, shard: number): RangeOutput {
  const fail = (why: string): never => {
    throw new RangeFileError(`shard ${shard}'s output is unusable: ${why}`);
  };
  if (bytes.length < MAGIC.length + 4 || new TextDecoder().decode(bytes.subarray(0, MAGIC.length)) !== MAGIC) fail('not a gpuq range file');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const len = view.getUint32(MAGIC.length, true);
  let header: RangeHeader;
  try {
    header = JSON.parse(new TextDecoder().decode(bytes.subarray(MAGIC.length + 4, MAGIC.length + 4 + len))) as RangeHeader;
  } catch {
    return fail('its header is not JSON');
  }
  if (header.runId !== runId || header.shard !== shard) fail(`it belongs to run ${header.runId} shard ${header.shard}`);
  const start = align8(MAGIC.length + 4 + len);
  const total = header.shards.reduce((n, s) => n + s.stats + s.histogram, 0) + header.tails.reduce((n, t) => n + t, 0);
  if (bytes.length !== start + 8 * total) fail(`it holds ${bytes.length} bytes, its header describes ${start + 8 * total}`);
  let at = start;
  const take = (n: number): Float64Array => {
    const a = new Float64Array(n);
    for (let i = 0; i < n; i++, at += 8) a[i] = view.getFloat64(at, true);
    return a;
  };
  const shards = header.shards.map((s) => ({ firstBlock: s.firstBlock, endBlock: s.endBlock, paths: s.paths, blockStats: take(s.stats), histogram: take(s.histogram) }));
  const tails = header.tails.map((n) => take(n));
  return { engine: header.engine, device: header.device, firstBlock: header.firstBlock, endBlock: header.endBlock, seconds: header.seconds, shards, tails };
}

function align8(n: number): number {
  return Math.ceil(n / 8) * 8;
}
