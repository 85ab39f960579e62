/**
 * A parser of server-sent events (the text/event-stream format of the HTML standard), for the event feed:
 * what GET /v1/events streams. Pure, so the CLI, the SDK and the dashboard share it.
 */

export interface SseMessage {
  /** The `id:` field, when the block had one: the id to resume after (Last-Event-ID). */
  id?: string;
  /** The `event:` field; `message` when absent. */
  event: string;
  /** null for a block with no data: not an event, though its id still moves the resume point (as in EventSource). */
  data: string | null;
}

/** Splits decoded text chunks into messages; comments, `retry:` lines and empty blocks are skipped. */
export async function* parseSse(chunks: AsyncIterable<string>): AsyncGenerator<SseMessage> {
  let buffer = '';
  for await (const chunk of chunks) {
    buffer += chunk;
    for (;;) {
      const end = /\r\n\r\n|\n\n|\r\r/.exec(buffer);
      if (!end) break;
      const block = buffer.slice(0, end.index);
      buffer = buffer.slice(end.index + end[0].length);
      const message = parseBlock(block);
      if (message) yield message;
    }
  }
}

function parseBlock(block: string): SseMessage | null {
  let id: string | undefined;
  let event = 'message';
  const data: string[] = [];
  for (const line of block.split(/\r\n|\n|\r/)) {
    if (line === '' || line.startsWith(':')) continue;
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'id') id = value;
    else if (field === 'event') event = value;
    else if (field === 'data') data.push(value);
  }
  if (data.length === 0 && id === undefined) return null;
  return { ...(id !== undefined ? { id } : {}), event, data: data.length === 0 ? null : data.join('\n') };
}
