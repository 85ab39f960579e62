import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { unschedulableReason, type ResourceRequest } from './fits.js';
import type { NodeCapacity } from './snapshot.js';

function node(id: string, over: Partial<NodeCapacity> & { gpus?: number } = {}): NodeCapacity {
  const devices = [...Array(over.gpus ?? 8).keys()];
  return {
    id,
    labels: {},
    schedulable: true,
    devices,
    freeDevices: devices,
    cpusTotal: 32,
    cpusFree: 32,
    memoryTotalMb: 256_000,
    memoryFreeMb: 256_000,
    slotsTotal: 16,
    slotsFree: 16,
    ...over,
  };
}

function req(over: Partial<ResourceRequest> = {}): ResourceRequest {
  return { gpus: 0, cpus: 0, memoryMb: 0, nodeSelector: {}, ...over };
}

describe('unschedulableReason', () => {
  it('is null when some node could hold the job when empty, even if all its devices are busy now', () => {
    const busy = node('a', { gpus: 8, freeDevices: [], cpusFree: 0, memoryFreeMb: 0 });
    expect(unschedulableReason(req({ gpus: 8, cpus: 32, memoryMb: 256_000 }), [busy])).toBeNull();
  });

  it('names the GPU rule with the largest node', () => {
    expect(unschedulableReason(req({ gpus: 9 }), [node('a', { gpus: 8 }), node('b', { gpus: 4 })])).toBe('asks for 9 GPUs; the largest node has 8');
  });

  it('says so when no node has any GPUs', () => {
    expect(unschedulableReason(req({ gpus: 1 }), [node('a', { gpus: 0 })])).toBe('asks for 1 GPU; no node has any GPUs');
  });

  it('names the selector and the values nodes do have for its key', () => {
    const nodes = [node('a', { labels: { 'gpu-model': 'A100' } }), node('b', { labels: { 'gpu-model': 'H100' } })];
    expect(unschedulableReason(req({ nodeSelector: { 'gpu-model': 'H200' } }), nodes)).toBe(
      'no node matches nodeSelector gpu-model=H200 (nodes have gpu-model=A100|H100)',
    );
  });

  it('says when no node has the selector key at all', () => {
    expect(unschedulableReason(req({ nodeSelector: { zone: 'eu' } }), [node('a')])).toBe('no node matches nodeSelector zone=eu (no node has a label zone)');
  });

  it('says when every entry matches some node but no node matches them all', () => {
    const nodes = [node('a', { labels: { zone: 'eu', model: 'A100' } }), node('b', { labels: { zone: 'us', model: 'H100' } })];
    expect(unschedulableReason(req({ nodeSelector: { zone: 'eu', model: 'H100' } }), nodes)).toBe(
      'no node matches nodeSelector model=H100,zone=eu (each entry matches some node, but no node matches them all)',
    );
  });

  it('limits GPU sizes to the nodes the selector matches', () => {
    const nodes = [node('a', { gpus: 8, labels: { model: 'A100' } }), node('b', { gpus: 4, labels: { model: 'H100' } })];
    expect(unschedulableReason(req({ gpus: 8, nodeSelector: { model: 'H100' } }), nodes)).toBe(
      'asks for 8 GPUs; the largest node matching nodeSelector model=H100 has 4',
    );
  });

  it('checks CPUs on the nodes that have enough GPUs', () => {
    const nodes = [node('gpu', { gpus: 8, cpusTotal: 32 }), node('cpu', { gpus: 0, cpusTotal: 128 })];
    expect(unschedulableReason(req({ gpus: 4, cpus: 64 }), nodes)).toBe('asks for 64 CPUs; the largest node with at least 4 GPUs has 32');
    expect(unschedulableReason(req({ gpus: 0, cpus: 64 }), nodes)).toBeNull();
  });

  it('checks memory on the nodes that pass the GPU and CPU rules', () => {
    const nodes = [node('a', { gpus: 8, cpusTotal: 16, memoryTotalMb: 1000 }), node('b', { gpus: 8, cpusTotal: 4, memoryTotalMb: 9000 })];
    expect(unschedulableReason(req({ gpus: 2, cpus: 8, memoryMb: 2000 }), nodes)).toBe(
      'asks for 2000 MiB of memory; the largest node with at least 2 GPUs and 8 CPUs has 1000 MiB',
    );
  });

  it('formats fractional CPUs and treats a zero request as always fitting', () => {
    const tiny = node('a', { gpus: 0, cpusTotal: 0, memoryTotalMb: 0 });
    expect(unschedulableReason(req(), [tiny])).toBeNull();
    expect(unschedulableReason(req({ cpus: 0.5 }), [tiny])).toBe('asks for 0.5 CPUs; the largest node has 0');
  });

  it('counts nodes that are down: a rejection is permanent, a restart is not', () => {
    expect(unschedulableReason(req({ gpus: 8 }), [node('a', { gpus: 8, schedulable: false })])).toBeNull();
  });

  it('rejects everything when no nodes are known', () => {
    expect(unschedulableReason(req(), [])).toMatch(/^no nodes are known/);
  });

  it('is null exactly when some node satisfies every rule (property)', () => {
    const labelArb = fc.record({ zone: fc.constantFrom('a', 'b'), model: fc.constantFrom('A100', 'H100') });
    const nodeArb = fc.record({
      gpus: fc.integer({ min: 0, max: 8 }),
      cpusTotal: fc.constantFrom(0, 4, 16, 64),
      memoryTotalMb: fc.constantFrom(0, 1000, 64_000),
      labels: labelArb,
      schedulable: fc.boolean(),
    });
    const reqArb = fc.record({
      gpus: fc.integer({ min: 0, max: 10 }),
      cpus: fc.constantFrom(0, 0.5, 4, 16, 100),
      memoryMb: fc.constantFrom(0, 1000, 2000, 100_000),
      nodeSelector: fc.oneof(fc.constant({}), fc.record({ zone: fc.constantFrom('a', 'b', 'c') }), labelArb),
    });
    fc.assert(
      fc.property(fc.array(nodeArb, { maxLength: 5 }), reqArb, (specs, r) => {
        const nodes = specs.map((s, i) => node(`n${i}`, s));
        const holds = nodes.some(
          (n) =>
            Object.entries(r.nodeSelector).every(([k, v]) => n.labels[k] === v) &&
            n.devices.length >= r.gpus &&
            n.cpusTotal >= r.cpus &&
            n.memoryTotalMb >= r.memoryMb,
        );
        const reason = unschedulableReason(r, nodes);
        expect(reason === null).toBe(holds);
        if (reason !== null) expect(reason.length).toBeGreaterThan(10);
      }),
      { numRuns: 500 },
    );
  });
});
