// Server-Sent Events over fetch(): EventSource cannot send an Authorization header, and with
// --token-file jobd's event streams need one. So the page reads the text/event-stream body
// itself: events are blocks separated by a blank line, of `event:`, `data:` and `id:` lines;
// lines starting with ':' are comments (jobd's keep-alives).
//
// The stream reconnects after a network error, resending the last id seen as Last-Event-ID (a
// job's stream resumes where it was; /v1/events has no ids and simply starts again).
import { problemOf, request } from './api.js';

const RETRY_MIN_MS = 500;
const RETRY_MAX_MS = 10_000;

// Splits `text` into complete event blocks; returns [blocks, rest] where rest is the start of
// an event still arriving.
export function splitEvents(text) {
  const blocks = [];
  let start = 0;
  for (;;) {
    const end = text.indexOf('\n\n', start);
    if (end < 0) break;
    if (end > start) blocks.push(text.slice(start, end));
    start = end + 2;
  }
  return [blocks, text.slice(start)];
}

// One block -> {event, data, id}; null for a block of comments only.
export function parseEvent(block) {
  let event = 'message';
  let id;
  const data = [];
  for (const line of block.split('\n')) {
    if (!line || line.startsWith(':')) continue;
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'event') event = value;
    else if (field === 'data') data.push(value);
    else if (field === 'id') id = value;
  }
  if (data.length === 0) return null;
  return { event, id, data: data.join('\n') };
}

// Opens `path` and calls onEvent({event, id, data}) for each event. Callbacks: onOpen() when
// the stream is up, onDown(error) when it broke (a reconnect follows), onEnd() when the server
// ended it (a job's stream after its final state: no reconnect), onFail(problem) on an HTTP
// error answer (no reconnect). Returns {close()}.
export function openEventStream(path, { onEvent, onOpen, onDown, onEnd, onFail }) {
  const abort = new AbortController();
  let lastId = '';
  let ended = false;

  async function readOnce() {
    const headers = { Accept: 'text/event-stream' };
    if (lastId) headers['Last-Event-ID'] = lastId;
    const response = await request('GET', path, { signal: abort.signal, headers });
    if (!response.ok) {
      ended = true;
      onFail?.(await problemOf(response));
      return;
    }
    onOpen?.();
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let pending = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      pending += value.includes('\r') ? value.replace(/\r\n?/g, '\n') : value;
      const [blocks, rest] = splitEvents(pending);
      pending = rest;
      for (const block of blocks) {
        const event = parseEvent(block);
        if (!event) continue;
        if (event.id) lastId = event.id;
        onEvent(event);
      }
    }
  }

  (async () => {
    let delay = RETRY_MIN_MS;
    while (!abort.signal.aborted && !ended) {
      const opened = Date.now();
      let failure;
      try {
        await readOnce();
      } catch (error) {
        failure = error;
      }
      if (abort.signal.aborted || ended) return;
      if (!failure && onEnd) {
        onEnd();
        return;
      }
      onDown?.(failure);
      // A stream that stayed up a while starts its backoff afresh.
      if (Date.now() - opened > RETRY_MAX_MS) delay = RETRY_MIN_MS;
      await new Promise((resolve) => setTimeout(resolve, delay));
      delay = Math.min(delay * 2, RETRY_MAX_MS);
    }
  })();

  return {
    close() {
      abort.abort();
    },
  };
}
