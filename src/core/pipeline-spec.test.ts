import { describe, expect, it } from 'vitest';
import { ValidationError } from './errors.js';
import { parsePipelineSpec } from './pipeline-spec.js';

const issuesOf = (input: unknown) => {
  try {
    parsePipelineSpec(input);
  } catch (e) {
    if (e instanceof ValidationError) return e.issues.map((i) => `${i.path}: ${i.message}`);
    throw e;
  }
  return [];
};

describe('pipeline definitions', () => {
  it('fills in every default of the steps\' jobs and of fanOut', () => {
    const spec = parsePipelineSpec({ name: 'etl', outputDir: '/srv/out', steps: [{ name: 'prep', job: { shell: 'tr a-z A-Z' }, fanOut: true }, { name: 'infer', job: { command: ['infer'], gpus: 2 } }] });
    expect(spec.steps.map((s) => [s.name, s.fanOut, s.job?.gpus, s.job?.maxAttempts, s.job?.queue])).toEqual([
      ['prep', true, 0, 5, 'default'],
      ['infer', false, 2, 5, 'default'],
    ]);
    expect(spec.onFailure).toBeUndefined();
  });

  it('names each field and rule broken, the steps\' job fields included', () => {
    expect(issuesOf({ name: 'Bad Name', outputDir: 'relative', steps: [] })).toEqual([
      'name: must be 1-63 lowercase letters, digits or "-", starting with a letter or digit',
      'steps: a pipeline needs at least one step',
      'outputDir: must be an absolute path',
    ]);
    const issues = issuesOf({
      name: 'p',
      outputDir: '/o',
      steps: [
        { name: 'a', job: { command: ['x'], gpus: -1 } },
        { name: 'a', job: { command: ['y'], dependsOn: [1], idempotencyKey: 'k' } },
      ],
      onFailure: { shell: 'x', command: ['y'] },
    });
    expect(issues).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^steps\.0\.job\.gpus: /),
        'steps.1.name: step "a" is named twice',
        'steps.1.job.dependsOn: is set by gpuq for each run of the pipeline',
        'steps.1.job.idempotencyKey: is set by gpuq for each run of the pipeline',
        'onFailure.shell: give either "command" or "shell", not both',
      ]),
    );
    expect(issuesOf({ name: 'p', outputDir: '/o', steps: [{ name: 's', job: { command: ['x'] }, extra: 1 }] })).toEqual(['steps.0: unknown field(s) "extra"']);
  });

  it('takes a step run by a worker pool instead of a job, and refuses a step with both or neither', () => {
    const spec = parsePipelineSpec({ name: 'p', outputDir: '/o', steps: [{ name: 'infer', pool: { name: 'embed', params: { model: 'm' } }, fanOut: true }] });
    expect(spec.steps).toEqual([{ name: 'infer', pool: { name: 'embed', params: { model: 'm' } }, fanOut: true }]);
    const rule = 'a step has either "job" (a job template) or "pool" (a task for a worker pool), not both or neither';
    expect(issuesOf({ name: 'p', outputDir: '/o', steps: [{ name: 'a', job: { command: ['x'] }, pool: { name: 'embed' } }, { name: 'b' }] })).toEqual([`steps.0.job: ${rule}`, `steps.1.job: ${rule}`]);
    expect(issuesOf({ name: 'p', outputDir: '/o', steps: [{ name: 'a', pool: { name: 'Bad', extra: 1 } }] })).toEqual(
      expect.arrayContaining([expect.stringMatching(/^steps\.0\.pool\.name: must be 1-63/), 'steps.0.pool: unknown field(s) "extra"']),
    );
  });
});
