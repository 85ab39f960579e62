import { describe, expect, it } from 'vitest';
import { batches, parsePayload, parseTaskIds, parseTaskLines, parseTaskStates, waitSeconds } from './task-input.js';

describe('parseTaskLines', () => {
  it('reads one payload per line, any JSON value, skipping blank lines', () => {
    expect(parseTaskLines('in.jsonl', '{"op":"square","x":3}\n\n  7  \n"text"\n[1,2]\nnull\n', false)).toEqual([
      { payload: { op: 'square', x: 3 } },
      { payload: 7 },
      { payload: 'text' },
      { payload: [1, 2] },
      { payload: null },
    ]);
  });

  it('with objects, reads each line as a task with an optional idempotency key', () => {
    expect(parseTaskLines('in.jsonl', '{"payload":{"x":1},"idempotencyKey":"a"}\n{"payload":2}\r\n', true)).toEqual([{ payload: { x: 1 }, idempotencyKey: 'a' }, { payload: 2 }]);
  });

  it('names the line of a bad task', () => {
    expect(() => parseTaskLines('in.jsonl', '1\n{oops\n', false)).toThrow(/^in\.jsonl:2: not valid JSON/);
    expect(() => parseTaskLines('in.jsonl', '{"x":1}\n', true)).toThrow(/in\.jsonl:1: with --objects each line is/);
    expect(() => parseTaskLines('in.jsonl', '{"payload":1,"key":"k"}\n', true)).toThrow(/in\.jsonl:1: unknown field "key"/);
    expect(() => parseTaskLines('in.jsonl', '{"payload":1,"idempotencyKey":3}\n', true)).toThrow(/"idempotencyKey" must be a string/);
    expect(() => parseTaskLines('in.jsonl', '\n \n', false)).toThrow(/holds no task/);
  });
});

describe('waitSeconds', () => {
  it('is undefined without --wait, Infinity for a bare --wait, else the seconds', () => {
    expect(waitSeconds(undefined)).toBeUndefined();
    expect(waitSeconds(true)).toBe(Infinity);
    expect(waitSeconds('30')).toBe(30);
    expect(waitSeconds('0')).toBe(0);
    expect(waitSeconds('1.5')).toBe(1.5);
  });

  it('refuses what is not seconds, hinting at the argument order', () => {
    expect(() => waitSeconds('embed')).toThrow(/--wait takes a number of seconds.*before --wait/);
    expect(() => waitSeconds('-1')).toThrow(/--wait takes a number/);
  });
});

describe('task arguments', () => {
  it('parses payloads, IDs and states', () => {
    expect(parsePayload('{"x": 3}')).toEqual({ x: 3 });
    expect(() => parsePayload('{x: 3}')).toThrow(/--payload must be JSON/);
    expect(parseTaskIds(['1', '42'])).toEqual([1, 42]);
    expect(() => parseTaskIds(['0'])).toThrow(/"0" is not a task ID/);
    expect(parseTaskStates('queued, running')).toEqual(['queued', 'running']);
    expect(() => parseTaskStates('queued,done')).toThrow(/not done/);
  });

  it('splits a large submit into batches in order', () => {
    expect(batches([1, 2, 3, 4, 5], 2)).toEqual([[1, 2], [3, 4], [5]]);
    expect(batches([1, 2], 2)).toEqual([[1, 2]]);
    expect(batches(Array.from({ length: 5001 }, (_, i) => i)).map((b) => b.length)).toEqual([5000, 1]);
  });
});
