import { describe, expect, it } from 'vitest';
import { JsonLineDecoder } from './json-lines.js';
import { OomLineScanner } from './oom-lines.js';

function decoder(max = 1024) {
  const values: unknown[] = [];
  const errors: string[] = [];
  const d = new JsonLineDecoder(max, (v) => values.push(v), (e) => errors.push(e));
  return { d, values, errors };
}

describe('JsonLineDecoder', () => {
  it('decodes lines however the stream is cut, even inside a UTF-8 character', () => {
    const text = '{"type":"result","id":1,"result":"héllo ✓ 𝄞"}\n\n{"type":"heartbeat"}\r\n{"a":[1,2]}\n';
    const bytes = Buffer.from(text);
    const whole = decoder();
    whole.d.push(bytes);
    expect(whole.values).toEqual([{ type: 'result', id: 1, result: 'héllo ✓ 𝄞' }, { type: 'heartbeat' }, { a: [1, 2] }]);
    for (let cut = 1; cut < bytes.length; cut++) {
      const t = decoder();
      t.d.push(bytes.subarray(0, cut));
      t.d.push(bytes.subarray(cut));
      expect(t.values).toEqual(whole.values);
      expect(t.errors).toEqual([]);
    }
    const oneByOne = decoder();
    for (const b of bytes) oneByOne.d.push(Buffer.from([b]));
    expect(oneByOne.values).toEqual(whole.values);
  });

  it('takes a last line without its newline at the end of the stream', () => {
    const t = decoder();
    t.d.push(Buffer.from('{"x":1}\n{"x":'));
    t.d.push(Buffer.from('2}'));
    expect(t.values).toEqual([{ x: 1 }]);
    t.d.end();
    expect(t.values).toEqual([{ x: 1 }, { x: 2 }]);
  });

  it('reports a line that is not JSON, once, and ignores what follows', () => {
    const t = decoder();
    t.d.push(Buffer.from('{"x":1}\nLoading weights...\n{"x":2}\n'));
    t.d.push(Buffer.from('also not json\n'));
    expect(t.values).toEqual([{ x: 1 }]);
    expect(t.errors).toEqual(['not a JSON line: "Loading weights..."']);
  });

  it('refuses a line longer than the limit, whether or not its end has come', () => {
    const open = decoder(16);
    open.d.push(Buffer.from('{"x":"0123456'));
    expect(open.errors).toEqual([]);
    open.d.push(Buffer.from('789abcdef"'));
    expect(open.errors).toEqual(['a line longer than 16 bytes (the most a line may hold)']);

    const closed = decoder(16);
    closed.d.push(Buffer.from('{"x":"0123456789abcdef"}\n'));
    expect(closed.errors).toHaveLength(1);
    expect(closed.values).toEqual([]);

    // 6 characters, 18 bytes: the limit is in bytes.
    const wide = decoder(16);
    wide.d.push(Buffer.from('"✓✓✓✓"\n'));
    expect(wide.errors).toEqual([]);
    wide.d.push(Buffer.from('"✓✓✓✓✓✓"\n'));
    expect(wide.errors).toHaveLength(1);
  });
});

describe('OomLineScanner', () => {
  it('finds CUDA out-of-memory lines split across chunks, and nothing else', () => {
    const found: string[] = [];
    const s = new OomLineScanner((l) => found.push(l));
    const text =
      'epoch 1 loss 0.3\nTraceback (most recent call last):\n  File "w.py", line 3\n' +
      'torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 20.00 MiB\n' +
      'RuntimeError: CUDA error: out of memory\nW external/xla: cudaErrorMemoryAllocation\nmemory is fine\n';
    for (let i = 0; i < text.length; i += 7) s.push(Buffer.from(text.slice(i, i + 7)));
    s.end();
    expect(found).toEqual(['torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 20.00 MiB', 'RuntimeError: CUDA error: out of memory', 'W external/xla: cudaErrorMemoryAllocation']);
  });

  it('scans a last line without a newline at the end', () => {
    const found: string[] = [];
    const s = new OomLineScanner((l) => found.push(l));
    s.push(Buffer.from('jax.errors.OutOfMemoryError'));
    expect(found).toEqual([]);
    s.end();
    expect(found).toEqual(['jax.errors.OutOfMemoryError']);
  });
});
