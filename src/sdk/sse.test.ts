import { describe, expect, it } from 'vitest';
import { parseSse, type SseMessage } from './sse.js';

async function parse(chunks: string[]): Promise<SseMessage[]> {
  async function* source() {
    yield* chunks;
  }
  const out: SseMessage[] = [];
  for await (const m of parseSse(source())) out.push(m);
  return out;
}

describe('parseSse', () => {
  it('reads id, event and data across chunk boundaries, and skips comments and retry lines', async () => {
    const text = 'retry: 1000\nid: 4\n\n: ping\n\nid: 5\nevent: job.state\ndata: {"id":5}\n\nevent: resync\ndata: {"oldestId":9}\n\n';
    const split = [text.slice(0, 7), text.slice(7, 30), text.slice(30, 31), text.slice(31)];
    expect(await parse(split)).toEqual([
      { id: '4', event: 'message', data: null },
      { id: '5', event: 'job.state', data: '{"id":5}' },
      { event: 'resync', data: '{"oldestId":9}' },
    ]);
  });

  it('joins data lines, accepts CRLF, takes a field without a colon as empty, and keeps a block that never ended out', async () => {
    expect(await parse(['data: a\r\ndata:b\r\ndata\r\n\r\n', 'data: cut off'])).toEqual([{ event: 'message', data: 'a\nb\n' }]);
  });
});
