import type { NodeCapacity } from './snapshot.js';

/**
 * Static fit rules: could a job ever run on a node, if that node were empty?
 *
 * Used twice:
 *  - at submit time, `unschedulableReason` rejects a job that no known node
 *    could ever hold (the caller raises `UnschedulableError` with the message);
 *  - by `place`, to tell a job that merely waits from one that cannot run on
 *    the nodes that are schedulable right now.
 *
 * The rules, checked in this order so the message names the first one that
 * rules out every node: nodeSelector (every entry equals the node's label),
 * GPUs (device count), CPUs (cpusTotal), memory (memoryTotalMb). A request of 0
 * in a dimension always fits that dimension.
 */

/** What a job asks of one node. */
export interface ResourceRequest {
  gpus: number;
  cpus: number;
  memoryMb: number;
  nodeSelector: Record<string, string>;
  /** Run slots (1 for exec, 0 for noop); every node has at least one, so it never makes a job unschedulable. @default 0 */
  slots?: number;
}

/**
 * CPU counts may be fractional (0.5 cores); subtracting them in floating point
 * drifts (0.3 - 0.2 < 0.1). Comparisons allow this much slack.
 */
export const CPU_EPSILON = 1e-9;

/** True when the selector has no entries; avoids allocating for the common case. */
export function isEmptySelector(selector: Record<string, string>): boolean {
  for (const _ in selector) return false;
  return true;
}

/** Every selector entry equals the node's label of that key. */
export function matchesSelector(labels: Record<string, string>, selector: Record<string, string>): boolean {
  for (const key in selector) {
    if (!Object.prototype.hasOwnProperty.call(labels, key) || labels[key] !== selector[key]) return false;
  }
  return true;
}

/** The node could hold the request if nothing else ran on it. Ignores `schedulable`. */
export function canHoldWhenEmpty(req: ResourceRequest, node: NodeCapacity): boolean {
  return (
    matchesSelector(node.labels, req.nodeSelector) &&
    (req.gpus <= 0 || node.devices.length >= req.gpus) &&
    (req.cpus <= 0 || node.cpusTotal + CPU_EPSILON >= req.cpus) &&
    (req.memoryMb <= 0 || node.memoryTotalMb >= req.memoryMb) &&
    (!req.slots || node.slotsTotal >= req.slots)
  );
}

/** "1 GPU", "2 GPUs", "0.5 CPUs". */
export function countOf(n: number, unit: string): string {
  return `${formatNumber(n)} ${unit}${n === 1 ? '' : 's'}`;
}

export function formatNumber(n: number): string {
  return Number.isInteger(n) ? String(n) : String(Math.round(n * 1000) / 1000);
}

export function formatSelector(selector: Record<string, string>): string {
  return Object.keys(selector)
    .sort()
    .map((k) => `${k}=${selector[k]}`)
    .join(',');
}

/** How the message names the nodes and the job's request. */
export interface ReasonWording {
  /** "node" at submit time; "schedulable node" when only schedulable nodes were given. */
  noun: string;
  /** "asks for" or "needs". */
  verb: string;
}

/**
 * Null when some node of `nodes` could hold the job when empty; otherwise why
 * none can, naming the rule ("asks for 9 GPUs; the largest node has 8").
 *
 * Every node given counts, schedulable or not: which nodes to consider is the
 * caller's policy. At submit time we recommend passing every known node, down
 * or cordoned included, because a rejection is permanent while a node that is
 * restarting comes back; `place` passes only schedulable nodes.
 * With no nodes at all, every job is unschedulable (the message says so).
 */
export function unschedulableReason(req: ResourceRequest, nodes: readonly NodeCapacity[]): string | null {
  return explainUnschedulable(req, nodes, { noun: 'node', verb: 'asks for' });
}

export function explainUnschedulable(req: ResourceRequest, nodes: readonly NodeCapacity[], wording: ReasonWording): string | null {
  const { noun, verb } = wording;
  if (nodes.length === 0) return `no ${noun}s are known: a job runs only once an agent with enough capacity has joined`;

  // Each filter keeps the nodes that pass it; `qualifier` describes what the survivors have in common.
  let candidates = nodes.filter((n) => matchesSelector(n.labels, req.nodeSelector));
  let qualifier = noun;
  if (candidates.length === 0) return selectorMessage(req.nodeSelector, nodes, noun);
  if (!isEmptySelector(req.nodeSelector)) qualifier += ` matching nodeSelector ${formatSelector(req.nodeSelector)}`;
  const withs: string[] = [];

  if (req.gpus > 0) {
    const max = maxOf(candidates, (n) => n.devices.length);
    if (max < req.gpus) {
      return max === 0
        ? `${verb} ${countOf(req.gpus, 'GPU')}; no ${qualifier} has any GPUs`
        : `${verb} ${countOf(req.gpus, 'GPU')}; the largest ${qualifier} has ${max}`;
    }
    candidates = candidates.filter((n) => n.devices.length >= req.gpus);
    withs.push(`at least ${countOf(req.gpus, 'GPU')}`);
  }
  if (req.cpus > 0) {
    const max = maxOf(candidates, (n) => n.cpusTotal);
    if (max + CPU_EPSILON < req.cpus) {
      return `${verb} ${countOf(req.cpus, 'CPU')}; the largest ${withQualifier(qualifier, withs)} has ${formatNumber(max)}`;
    }
    candidates = candidates.filter((n) => n.cpusTotal + CPU_EPSILON >= req.cpus);
    withs.push(countOf(req.cpus, 'CPU'));
  }
  if (req.memoryMb > 0) {
    const max = maxOf(candidates, (n) => n.memoryTotalMb);
    if (max < req.memoryMb) {
      return `${verb} ${req.memoryMb} MiB of memory; the largest ${withQualifier(qualifier, withs)} has ${max} MiB`;
    }
  }
  return null;
}

function withQualifier(qualifier: string, withs: string[]): string {
  if (withs.length === 0) return qualifier;
  return `${qualifier} with ${withs.join(' and ')}`;
}

function maxOf(nodes: readonly NodeCapacity[], f: (n: NodeCapacity) => number): number {
  let max = 0;
  for (const n of nodes) max = Math.max(max, f(n));
  return max;
}

/** Names the selector and, to help fix a typo, the values nodes do have for the first key no node matches. */
function selectorMessage(selector: Record<string, string>, nodes: readonly NodeCapacity[], noun: string): string {
  let hint = ' (each entry matches some node, but no node matches them all)';
  for (const key of Object.keys(selector).sort()) {
    if (nodes.some((n) => n.labels[key] === selector[key])) continue;
    const values = [...new Set(nodes.map((n) => n.labels[key]).filter((v): v is string => v !== undefined))].sort();
    hint =
      values.length === 0
        ? ` (no ${noun} has a label ${key})`
        : ` (${noun}s have ${key}=${values.slice(0, 5).join('|')}${values.length > 5 ? `|… ${values.length - 5} more` : ''})`;
    break;
  }
  return `no ${noun} matches nodeSelector ${formatSelector(selector)}${hint}`;
}
