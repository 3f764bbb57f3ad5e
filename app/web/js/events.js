// Live updates: GET /api/events read with fetch (EventSource cannot send the CSRF header),
// parsed as text/event-stream, reconnected with backoff. Events carry ids only.

import {request} from './api.js';

let controller = null;
let running = false;
let timer = null;

/** Starts the stream; onEvent(name, data) is called for each event. */
export function startEvents(onEvent, onStatus = () => {}) {
  stopEvents();
  running = true;
  let delay = 1000;

  const connect = async () => {
    if (!running) return;
    controller = new AbortController();
    try {
      const res = await request('GET', '/api/events', undefined, {signal: controller.signal});
      onStatus(true);
      delay = 1000;
      await readStream(res.body, onEvent);
    } catch (e) {
      if (e && e.name === 'AbortError') return;
      // 401/423 are handled by request(); they stop the stream through stopEvents().
      if (e && (e.status === 401 || e.status === 423 || e.status === 403)) return;
    }
    if (!running) return;
    onStatus(false);
    timer = setTimeout(connect, delay);
    delay = Math.min(delay * 2, 30000);
  };
  connect();
}

export function stopEvents() {
  running = false;
  if (timer) clearTimeout(timer);
  timer = null;
  if (controller) controller.abort();
  controller = null;
}

async function readStream(body, onEvent) {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  let name = 'message';
  let data = [];
  for (;;) {
    const {value, done} = await reader.read();
    if (done) return;
    buffer += decoder.decode(value, {stream: true});
    let nl;
    while ((nl = buffer.search(/\r\n|\r|\n/)) >= 0) {
      const line = buffer.slice(0, nl);
      buffer = buffer.slice(nl + (buffer[nl] === '\r' && buffer[nl + 1] === '\n' ? 2 : 1));
      if (line === '') {
        if (data.length) dispatch(onEvent, name, data.join('\n'));
        name = 'message';
        data = [];
      } else if (line.startsWith(':')) {
        // keep-alive comment
      } else {
        const colon = line.indexOf(':');
        const field = colon < 0 ? line : line.slice(0, colon);
        let val = colon < 0 ? '' : line.slice(colon + 1);
        if (val.startsWith(' ')) val = val.slice(1);
        if (field === 'event') name = val;
        else if (field === 'data') data.push(val);
      }
    }
  }
}

function dispatch(onEvent, name, raw) {
  let data = {};
  try {
    data = raw ? JSON.parse(raw) : {};
  } catch {
    data = {};
  }
  try {
    onEvent(name, data);
  } catch {
    // a view's refresh failing must not end the stream
  }
}
