import { describe, expect, it } from 'vitest';
import { parseJobSpec } from './job-spec.js';
import { ValidationError } from './errors.js';
import { parseUtilizationScript, utilizationAt, type UtilizationScript } from './utilization-script.js';

const parse = (text: string): UtilizationScript => {
  const r = parseUtilizationScript(text);
  if ('problem' in r) throw new Error(r.problem);
  return r.script;
};

describe('scripted utilization of simulated GPUs', () => {
  it('steps through the script by the time since the start, and holds the last step', () => {
    const s = parse('80:2,3:5');
    expect(s).toEqual([{ pct: 80, seconds: 2 }, { pct: 3, seconds: 5 }]);
    expect([0, 1999, 2000, 6999, 7000, 1e9].map((ms) => utilizationAt(s, ms))).toEqual([80, 80, 3, 3, 3, 3]);
    expect(parse(' 50:0.5 , 12.5 ')).toEqual([{ pct: 50, seconds: 0.5 }, { pct: 12.5, seconds: 0 }]);
    expect(utilizationAt(parse('7'), 123_456)).toBe(7);
  });

  it('refuses what is not a script, naming the step and the rule', () => {
    const problem = (text: string) => {
      const r = parseUtilizationScript(text);
      return 'problem' in r ? r.problem : null;
    };
    expect(problem('')).toMatch(/PERCENT:SECONDS.*step 1/);
    expect(problem('80,3:5')).toMatch(/step 1 \("80"\)/);
    expect(problem('80:2:1')).toMatch(/step 1/);
    expect(problem('101:2')).toBe('step 1: the utilization must be 0-100 percent, got 101');
    expect(problem('80:0,3')).toBe('step 1: the duration must be above 0 seconds');
    expect(problem('-5:2')).toMatch(/step 1/);
    expect(problem(Array.from({ length: 1001 }, () => '1:1').join(','))).toBe('must have at most 1000 steps');
  });

  it('is checked at submit: a job env GPUQ_FAKE_GPU_UTILIZATION that is not a script is a 400 naming it; other GPUQ_ names stay refused', () => {
    expect(parseJobSpec({ command: ['true'], env: { GPUQ_FAKE_GPU_UTILIZATION: '80:2,3:5' } }).env).toEqual({ GPUQ_FAKE_GPU_UTILIZATION: '80:2,3:5' });
    const issues = (input: unknown) => {
      try {
        parseJobSpec(input);
        return [];
      } catch (e) {
        if (e instanceof ValidationError) return e.issues;
        throw e;
      }
    };
    expect(issues({ command: ['true'], env: { GPUQ_FAKE_GPU_UTILIZATION: '80%:2' } })).toEqual([{ path: 'env.GPUQ_FAKE_GPU_UTILIZATION', message: expect.stringMatching(/PERCENT:SECONDS/) }]);
    expect(issues({ command: ['true'], env: { GPUQ_JOB_ID: '1' } })[0]?.message).toMatch(/set by gpuq/);
  });
});
