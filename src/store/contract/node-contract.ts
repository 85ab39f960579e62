import { describe, expect, it } from 'vitest';
import type { DeviceTelemetry } from '../../core/types.js';
import type { ContractContext } from './contract-context.js';
import { device, node, submit, T0 } from './fixtures.js';

/** Nodes and devices, telemetry, and the maintenance switch. */
export function nodeContract(ctx: ContractContext): void {
  describe('nodes', () => {
    it('stores a node with its devices and replaces them on a new registration', async () => {
      const n1 = node('n1', 4, { labels: { zone: 'a', gpu: 'h100' }, cpus: 32.5, devices: [device(0), device(1, false), { ...device(2), pciBusId: '0000:3B:00.0', simulated: false }, device(3)] });
      await ctx.store.upsertNode(n1);
      await ctx.store.upsertNode(node('n0', 1));
      expect(await ctx.store.listNodes()).toEqual([node('n0', 1), n1]);

      const again = node('n1', 2, { hostname: 'renamed', incarnation: 'inc-2', lastHeartbeatAt: T0 + 7, devices: [device(0, false), device(5)] });
      await ctx.store.upsertNode(again);
      expect((await ctx.store.listNodes()).find((n) => n.id === 'n1')).toEqual(again);
      const snap = await ctx.store.schedulingSnapshot(T0, 1);
      expect(snap.nodes.find((n) => n.id === 'n1')?.devices).toEqual([5]);
    });

    it('marks nodes down when their heartbeats stop, and up again on a heartbeat', async () => {
      await ctx.store.upsertNode(node('a', 0, { lastHeartbeatAt: T0 }));
      await ctx.store.upsertNode(node('b', 0, { lastHeartbeatAt: T0 }));
      await ctx.store.upsertNode(node('c', 0, { lastHeartbeatAt: T0 }));
      await ctx.store.heartbeatNode('b', T0 + 10_000);
      await ctx.store.heartbeatNode('unknown', T0 + 10_000);
      expect(await ctx.store.markNodesDown(T0 + 5000)).toEqual(['a', 'c']);
      expect(await ctx.store.markNodesDown(T0 + 5000)).toEqual([]);
      const states = Object.fromEntries((await ctx.store.listNodes()).map((n) => [n.id, [n.state, n.lastHeartbeatAt]]));
      expect(states).toEqual({ a: ['down', T0], b: ['up', T0 + 10_000], c: ['down', T0] });

      await ctx.store.heartbeatNode('a', T0 + 20_000);
      expect((await ctx.store.listNodes()).find((n) => n.id === 'a')).toMatchObject({ state: 'up', lastHeartbeatAt: T0 + 20_000 });
      expect((await ctx.store.schedulingSnapshot(T0, 1)).nodes.map((n) => [n.id, n.schedulable])).toEqual([
        ['a', true],
        ['b', true],
        ['c', false],
      ]);
    });
  });

  describe('host memory with heartbeats', () => {
    it('keeps the last reported host memory, stamped with its heartbeat, through heartbeats without one and re-registrations', async () => {
      await ctx.store.upsertNode(node('a', 1));
      expect((await ctx.store.getNode('a'))?.hostMemory).toBeNull();
      await ctx.store.heartbeatNode('a', T0 + 1000, { totalMb: 65_536, availableMb: 1200 });
      const reading = { totalMb: 65_536, availableMb: 1200, sampledAt: T0 + 1000 };
      expect((await ctx.store.getNode('a'))?.hostMemory).toEqual(reading);
      await ctx.store.heartbeatNode('a', T0 + 2000);
      await ctx.store.upsertNode(node('a', 1));
      expect((await ctx.store.listNodes())[0]).toMatchObject({ lastHeartbeatAt: T0, hostMemory: reading });
      await ctx.store.heartbeatNode('a', T0 + 3000, { totalMb: 65_536, availableMb: 30_000 });
      expect((await ctx.store.getNode('a'))?.hostMemory).toEqual({ totalMb: 65_536, availableMb: 30_000, sampledAt: T0 + 3000 });
    });
  });

  describe('a node whose agent leaves', () => {
    it('is marked down at once, only by the incarnation that registered last, and comes back with a heartbeat', async () => {
      await ctx.store.upsertNode(node('a', 0, { incarnation: 'old' }));
      await ctx.store.upsertNode(node('a', 0, { incarnation: 'new' }));
      expect(await ctx.store.nodeLeft('a', 'old')).toBe(false);
      expect((await ctx.store.listNodes())[0]?.state).toBe('up');
      expect(await ctx.store.nodeLeft('a', 'new')).toBe(true);
      expect((await ctx.store.listNodes())[0]?.state).toBe('down');
      expect((await ctx.store.schedulingSnapshot(T0, 1)).nodes[0]?.schedulable).toBe(false);
      expect(await ctx.store.nodeLeft('a', 'new')).toBe(false);
      expect(await ctx.store.nodeLeft('unknown', 'new')).toBe(false);
      await ctx.store.heartbeatNode('a', T0 + 1);
      expect((await ctx.store.listNodes())[0]?.state).toBe('up');
    });
  });

  describe('node log endpoints', () => {
    it('keeps a node\'s log endpoint until replaced or cleared; none for unknown nodes', async () => {
      await ctx.store.upsertNode(node('n1', 1));
      expect(await ctx.store.getNodeLogEndpoint('n1')).toBeNull();
      await ctx.store.setNodeLogEndpoint('n1', { url: 'http://10.0.0.1:7421', secret: 's1' });
      await ctx.store.setNodeLogEndpoint('unknown', { url: 'http://10.0.0.9:1', secret: 'x' });
      expect(await ctx.store.getNodeLogEndpoint('n1')).toEqual({ url: 'http://10.0.0.1:7421', secret: 's1' });
      expect(await ctx.store.getNodeLogEndpoint('unknown')).toBeNull();
      // A re-registration keeps it (the registering agent replaces it); the public node record never shows the secret.
      await ctx.store.upsertNode(node('n1', 2));
      expect(await ctx.store.getNodeLogEndpoint('n1')).toEqual({ url: 'http://10.0.0.1:7421', secret: 's1' });
      expect(JSON.stringify(await ctx.store.listNodes())).not.toContain('s1');
      await ctx.store.setNodeLogEndpoint('n1', null);
      expect(await ctx.store.getNodeLogEndpoint('n1')).toBeNull();
    });
  });

  describe('telemetry', () => {
    const sample = (nodeId: string, index: number, at: number, utilizationPct: number): DeviceTelemetry => ({
      nodeId, index, at, utilizationPct, memoryUsedMb: 1024, temperatureC: 60, powerW: 300.5, eccCorrected: 0, eccUncorrected: null,
    });

    it('keeps the newest sample per device and the history of each device', async () => {
      await ctx.store.recordTelemetry([sample('n1', 0, T0, 10), sample('n1', 1, T0, 20), sample('n2', 0, T0, 30)]);
      await ctx.store.recordTelemetry([sample('n1', 0, T0 + 1000, 11), sample('n1', 0, T0 + 2000, 12)]);
      await ctx.store.recordTelemetry([sample('n1', 0, T0 + 1500, 99)]); // late: not the newest
      const latest = await ctx.store.latestTelemetry();
      const key = (t: DeviceTelemetry) => `${t.nodeId}/${t.index}`;
      expect([...latest].sort((x, y) => key(x).localeCompare(key(y)))).toEqual([sample('n1', 0, T0 + 2000, 12), sample('n1', 1, T0, 20), sample('n2', 0, T0, 30)]);
      expect((await ctx.store.telemetryHistory('n1', 0, T0 + 1000)).map((t) => [t.at, t.utilizationPct])).toEqual([
        [T0 + 1000, 11],
        [T0 + 1500, 99],
        [T0 + 2000, 12],
      ]);
      expect(await ctx.store.telemetryHistory('n1', 1, T0)).toEqual([sample('n1', 1, T0, 20)]);
      expect(await ctx.store.telemetryHistory('n3', 0, 0)).toEqual([]);
    });

    it('purges samples older than a time', async () => {
      await ctx.store.recordTelemetry([sample('n1', 0, T0, 1), sample('n1', 0, T0 + 10, 2), sample('n1', 1, T0, 3)]);
      expect(await ctx.store.purgeTelemetry(T0 + 5)).toBe(2);
      expect((await ctx.store.telemetryHistory('n1', 0, 0)).map((t) => t.at)).toEqual([T0 + 10]);
      expect(await ctx.store.telemetryHistory('n1', 1, 0)).toEqual([]);
      expect((await ctx.store.latestTelemetry()).map((t) => [t.index, t.at])).toEqual([[0, T0 + 10]]);
      expect(await ctx.store.purgeTelemetry(T0 + 5)).toBe(0);
    });
  });

  describe('maintenance mode', () => {
    it('defaults to normal and persists across a restart, with the jobs', async () => {
      expect(await ctx.store.getMaintenanceMode()).toBe('normal');
      const id = await submit(ctx.store, { name: 'survivor' });
      await ctx.store.setMaintenanceMode('drain', T0);
      expect(await ctx.store.getMaintenanceMode()).toBe('drain');
      await ctx.store.close();

      const reopened = await ctx.opened.reopen();
      expect(await reopened.getMaintenanceMode()).toBe('drain');
      expect((await reopened.getJob(id))?.name).toBe('survivor');
      await reopened.setMaintenanceMode('normal', T0 + 1);
      expect(await reopened.getMaintenanceMode()).toBe('normal');
    });
  });
}
