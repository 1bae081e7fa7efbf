// biome-ignore lint/suspicious/noExplicitAny: GraphQL payloads are checked field by field in the tests
type Json = any;

/**
 * A GraphQL-over-SSE response read event by event: `read(n)` returns once `n` more `next` events came or the
 * stream ended; `events` lists every event name seen (next, complete); `cancel` stops reading.
 */
export function sseEvents(res: Response) {
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
  const events: string[] = [];
  let buffer = '';
  const read = async (want: number): Promise<{ next: Json[]; ended: boolean }> => {
    const next: Json[] = [];
    while (next.length < want) {
      const { value, done } = await reader.read();
      if (done) return { next, ended: true };
      buffer += value;
      for (let cut = buffer.indexOf('\n\n'); cut >= 0; cut = buffer.indexOf('\n\n')) {
        const block = buffer.slice(0, cut);
        buffer = buffer.slice(cut + 2);
        const event = /^event: (.*)$/m.exec(block)?.[1];
        const data = /^data: (.*)$/m.exec(block)?.[1];
        if (event) events.push(event);
        if (event === 'next' && data) next.push(JSON.parse(data));
      }
    }
    return { next, ended: false };
  };
  return { read, events, cancel: () => reader.cancel() };
}
