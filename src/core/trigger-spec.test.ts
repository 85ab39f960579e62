import { describe, expect, it } from 'vitest';
import { ValidationError } from './errors.js';
import { completeFiles, globMatcher, parseTriggerSpec, type Observation } from './trigger-spec.js';

const spec = (complete: object = { mode: 'settle', settleMs: 1000 }, extra: object = {}) => parseTriggerSpec({ name: 't', pipeline: 'p', directory: '/in', complete, ...extra });
const file = (name: string, size = 10, mtimeMs = 5) => ({ name, size, mtimeMs });

describe('trigger settings', () => {
  it('fills in the defaults and names every field broken', () => {
    expect(parseTriggerSpec({ name: 't', pipeline: 'p', directory: '/in' })).toEqual({ name: 't', pipeline: 'p', directory: '/in', complete: { mode: 'settle', settleMs: 2000 }, ignore: ['.*', '*.tmp', '*.part', '*.partial', '*.swp'], pollMs: 250 });
    try {
      parseTriggerSpec({ name: 'T', pipeline: 'p', directory: 'in', complete: { mode: 'marker', suffix: 'a/b' }, ignore: ['x/y'], pollMs: 10, extra: 1 });
      expect.unreachable();
    } catch (e) {
      expect((e as ValidationError).issues.map((i) => i.path).sort()).toEqual(['', 'complete.suffix', 'directory', 'ignore.0', 'name', 'pollMs']);
    }
  });

  it('matches globs of * and ? against whole names', () => {
    expect(['a.tmp', '.x', 'a.tmp.txt', 'ab'].map(globMatcher('*.tmp'))).toEqual([true, false, false, false]);
    expect(['.x', 'x', '.'].map(globMatcher('.*'))).toEqual([true, false, true]);
    expect(['a1', 'a12', 'a'].map(globMatcher('a?'))).toEqual([true, false, false]);
    expect(globMatcher('a+b(c)')('a+b(c)')).toBe(true);
  });
});

describe('completeFiles', () => {
  it('settle: a file is ready once its size and time stayed the same for settleMs; a change starts over', () => {
    const s = spec();
    const names = new Set(['a', 'b']);
    const first = completeFiles(s, [file('a'), file('b')], names, new Map(), 0);
    expect(first.ready).toEqual([]);
    const second = completeFiles(s, [file('a'), file('b', 20)], names, first.observed, 999);
    expect(second.ready).toEqual([]);
    const third = completeFiles(s, [file('a'), file('b', 20)], names, second.observed, 1000);
    expect(third.ready).toEqual(['a']);
    expect(third.observed.get('b')).toEqual<Observation>({ size: 20, mtimeMs: 5, since: 999 });
    expect(completeFiles(s, [file('b', 20)], names, third.observed, 1999).ready).toEqual(['b']);
  });

  it('marker: ready when <name>.done is there; the marker itself never is; rename: ready at once; ignored names never', () => {
    const m = spec({ mode: 'marker' });
    expect(completeFiles(m, [file('a'), file('a.done'), file('b')], new Set(['a', 'a.done', 'b']), new Map(), 0).ready).toEqual(['a']);
    const r = spec({ mode: 'rename' });
    expect(completeFiles(r, [file('z'), file('a'), file('.hidden'), file('x.tmp'), file('y.part')], new Set(), new Map(), 0).ready).toEqual(['a', 'z']);
    const custom = spec({ mode: 'rename' }, { ignore: ['*.csv'] });
    expect(completeFiles(custom, [file('a.csv'), file('.b')], new Set(), new Map(), 0).ready).toEqual(['.b']);
  });
});
