// Server-sent events over fetch(), for the change stream GET /api/v1/events.
//
// EventSource cannot send an Authorization header, so this reads the answer
// with a ReadableStream reader and parses the event-stream format itself
// (WHATWG HTML, "Server-sent events"). A dropped connection is reopened after
// a growing delay with Last-Event-ID set to the last id seen, so the server
// resumes right after it; the server's ": comment" heartbeats keep an idle
// watchdog quiet, and one that stays silent for three heartbeats is treated
// as dropped (a sleeping laptop or a dead proxy never says so).

import { request, isAbort, ApiError } from '/admin/js/api.js';

const FIRST_DELAY_MS = 1000;
const MAX_DELAY_MS = 30000;
const IDLE_MS = 45000;

/**
 * An incremental parser: push() text as it arrives, in pieces of any size;
 * `dispatch({type, data, id})` runs at each blank line ending an event that
 * has data. `lastId` is the last "id:" seen (it outlives events, as in the
 * spec); `retry` the last "retry:" in ms, or null.
 */
export class SseParser {
  constructor(dispatch) {
    this.dispatch = dispatch;
    this.buf = '';
    this.data = [];
    this.type = '';
    this.lastId = '';
    this.retry = null;
    this.afterCR = false;
  }

  push(text) {
    // A CR LF split between two pieces: the CR already ended the line.
    if (this.afterCR && text.startsWith('\n')) text = text.slice(1);
    this.buf += text;
    this.afterCR = this.buf.endsWith('\r');
    const lines = this.buf.split(/\r\n|\r|\n/);
    this.buf = lines.pop();
    for (const line of lines) this.line(line);
  }

  line(line) {
    if (line === '') {
      this.end();
      return;
    }
    if (line.startsWith(':')) return; // a comment: the heartbeat
    const colon = line.indexOf(':');
    const name = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (name === 'data') this.data.push(value);
    else if (name === 'event') this.type = value;
    else if (name === 'id' && !value.includes('\0')) this.lastId = value;
    else if (name === 'retry' && /^\d+$/.test(value)) this.retry = Number(value);
  }

  end() {
    const { data, type } = this;
    this.data = [];
    this.type = '';
    if (data.length) this.dispatch({ type: type || 'message', data: data.join('\n'), id: this.lastId });
  }
}

/**
 * Follows the stream at `path` (e.g. '/events') until close().
 * onEvent({type, data, id}) for each event (data is the raw text);
 * onState(state, detail) with 'connecting', 'live', 'waiting' ({ms, error}:
 * the next attempt in ms) or 'stopped' ({error}: an answer that trying again
 * cannot change, such as 403). `lastEventId` starts after that event.
 */
export function followEvents(path, { onEvent, onState = () => {}, lastEventId = '' }) {
  const st = { closed: false, ctrl: null, timer: 0, wake: null, delay: FIRST_DELAY_MS, retry: 0, lastId: lastEventId };
  run(st, path, onEvent, onState);
  return {
    close() {
      st.closed = true;
      if (st.ctrl) st.ctrl.abort();
      clearTimeout(st.timer);
      if (st.wake) st.wake();
    },
    get lastEventId() {
      return st.lastId;
    },
  };
}

/** Client errors other than 408/429 would come back the same: stop there. */
function isFatal(e) {
  if (e && e.fatal) return true;
  return e instanceof ApiError && e.status >= 400 && e.status < 500 && e.status !== 408 && e.status !== 429;
}

async function run(st, path, onEvent, onState) {
  while (!st.closed) {
    onState('connecting');
    let error = null;
    let heard = false;
    try {
      heard = await connect(st, path, onEvent, onState);
    } catch (e) {
      if (st.closed) return;
      if (isFatal(e)) {
        onState('stopped', { error: e });
        return;
      }
      error = isAbort(e) ? new Error('The stream went quiet.') : e;
      heard = !!(e && e.heard);
    }
    if (st.closed) return;
    // A connection that carried something starts the delays over.
    if (heard) st.delay = FIRST_DELAY_MS;
    const floor = Math.max(st.retry, ((error && error.retryAfter) || 0) * 1000);
    const ms = Math.max(floor, Math.round(st.delay * (0.8 + Math.random() * 0.4)));
    st.delay = Math.min(st.delay * 2, MAX_DELAY_MS);
    onState('waiting', { ms, error });
    await new Promise((resolve) => {
      st.wake = resolve;
      st.timer = setTimeout(resolve, ms);
    });
  }
}

/** One connection; resolves (true if any bytes came) when the server ends it. */
async function connect(st, path, onEvent, onState) {
  const ctrl = new AbortController();
  st.ctrl = ctrl;
  let idle = 0;
  const watch = () => {
    clearTimeout(idle);
    idle = setTimeout(() => ctrl.abort(), IDLE_MS);
  };
  const headers = { Accept: 'text/event-stream' };
  if (st.lastId) headers['Last-Event-ID'] = st.lastId;
  let heard = false;
  watch();
  try {
    const { response } = await request(path, { stream: true, headers, signal: ctrl.signal });
    if (!(response.headers.get('Content-Type') || '').startsWith('text/event-stream')) {
      const e = new ApiError(response.status, { title: 'Not an event stream', detail: 'The server did not answer with an event stream.' });
      e.fatal = true;
      throw e;
    }
    onState('live');
    const parser = new SseParser((ev) => {
      st.lastId = ev.id;
      try {
        onEvent(ev);
      } catch (err) {
        reportError(err); // a bug in a handler must not drop the stream
      }
    });
    parser.lastId = st.lastId;
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return heard;
      heard = true;
      watch();
      parser.push(decoder.decode(value, { stream: true }));
      st.lastId = parser.lastId;
      if (parser.retry !== null) st.retry = parser.retry;
    }
  } catch (e) {
    if (e && typeof e === 'object') e.heard = heard;
    throw e;
  } finally {
    clearTimeout(idle);
    ctrl.abort(); // frees the connection whichever way this ended
  }
}
