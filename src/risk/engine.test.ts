import { describe, expect, it } from 'vitest';
import { chooseEngine, EngineUnavailableError } from './engine.js';

const noCuda = { ok: false as const, reason: 'no CUDA device is present (/dev/nvidiactl missing)' };

describe('chooseEngine', () => {
  it('auto: CUDA only with an assigned GPU that CUDA can use', () => {
    expect(chooseEngine('auto', ['0'], { ok: true })).toEqual({ engine: 'cuda', why: 'GPU 0 assigned' });
    expect(chooseEngine('auto', [], { ok: true })).toEqual({ engine: 'cpu', why: 'no GPU assigned' });
    expect(chooseEngine('auto', ['0', '1'], noCuda)).toEqual({ engine: 'cpu', why: `GPU 0,1 assigned, but ${noCuda.reason}` });
  });

  it('a forced engine is used, or refused with the reason', () => {
    expect(chooseEngine('cpu', ['0'], { ok: true }).engine).toBe('cpu');
    expect(chooseEngine('cuda', ['3'], { ok: true }).engine).toBe('cuda');
    expect(() => chooseEngine('cuda', ['0'], noCuda)).toThrow(EngineUnavailableError);
    expect(() => chooseEngine('cuda', ['0'], noCuda)).toThrow(/nvidiactl missing/);
    expect(() => chooseEngine('cuda', [], { ok: true })).toThrow(/given no GPU/);
  });
});
