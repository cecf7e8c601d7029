// Class mode's URLs and wire format, in one place as ../api.js keeps the page's: starting a class, reopening its
// teacher screen with the PIN, joining, the lessons a teacher may push, and the class's one WebSocket (the token in
// its query says who is at the other end). The socket reconnects by itself, with growing waits, until it is closed
// or the server says the class is gone; errors are ../api.js's ApiError, whose message is the server's plain words.

import { ApiError } from '../api.js';
import { backoff } from './wire.js';

/** @param {string} method  @param {string} path  @param {object} [body] */
async function request(method, path, body) {
  let res;
  try {
    res = await fetch(path, { method, headers: body ? { 'Content-Type': 'application/json' } : {},
      body: body ? JSON.stringify(body) : undefined });
  } catch {
    throw new ApiError('the server cannot be reached: is it running, and is this device online?');
  }
  let json = null;
  try { json = await res.json(); } catch { /* an empty or non-JSON answer: the status line says enough */ }
  if (!res.ok) {
    const detail = typeof json?.detail === 'string' ? json.detail : `the server answered ${res.status}`;
    const err = new ApiError(detail, { status: res.status, code: json?.code ?? 'http_error' });
    err.retryAfter = Number(res.headers.get('Retry-After')) || null;
    throw err;
  }
  return json;
}

const at = (code) => `/api/class/${encodeURIComponent(code)}`;

export const classApi = {
  /** Start a class: {code, teacher_token, expires_in, limits, join_url}. @param {{pin?: string, title?: string}} b */
  create: (b) => request('POST', '/api/class', b),
  /** The teacher's token again, on another device: {teacher_token}. */
  teacher: (code, pin) => request('POST', `${at(code)}/teacher`, { pin }),
  /**
   * Join, or rejoin with the token of an earlier join (the same student, the same tile):
   * {student: {id, name}, token, class: {code, title, pin, lesson}, last: null | {image, prediction}}.
   */
  join: (code, name, token) => request('POST', `${at(code)}/join`, token ? { name, token } : { name }),
  /** [{id, title, cards}]; [] while the server serves no lessons (the route is absent or answers an error). */
  async lessons() {
    try {
      const list = await request('GET', '/api/lessons');
      return Array.isArray(list) ? list : Array.isArray(list?.lessons) ? list.lessons : [];
    } catch {
      return [];
    }
  },
  teachUrl: (code) => `/class/${encodeURIComponent(code)}/teach`,
  joinUrl: (code) => `${location.origin}/?class=${encodeURIComponent(code)}`,
  socket: (code, token, handlers) => classSocket(code, token, handlers),
};

/** Close codes the server ends a class socket with for good (4000 … 4999: 4404 no such class, 4403 a token the class
 * did not issue; 1008 policy): no reconnection. 1013 (too many sockets, or fell behind) is "try again later". */
const isFinal = (ev) => ev.code === 1008 || (ev.code >= 4000 && ev.code < 5000);

/**
 * The class's socket, reconnected after every drop (backoff from ./wire.js) until close() or a final close code.
 * @param {string} code  @param {string} token
 * @param {{onMessage: (msg: object) => void, onStatus: (s: 'connecting'|'online'|'reconnecting') => void,
 *   onGone: (why: {code: number, reason: string}) => void, onOpen?: () => void}} on
 * @returns {{send(msg: object): boolean, close(): void, reconnect(): void}}
 */
function classSocket(code, token, on) {
  const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
  const url = `${scheme}://${location.host}/ws/class/${encodeURIComponent(code)}?token=${encodeURIComponent(token)}`;
  let ws = null, attempt = 0, timer = null, closed = false;
  let lastError = ''; // the server says why in an error message just before a final close

  function connect() {
    timer = null;
    if (closed) return;
    on.onStatus(attempt === 0 ? 'connecting' : 'reconnecting');
    const sock = new WebSocket(url);
    ws = sock;
    sock.onopen = () => { attempt = 0; lastError = ''; on.onStatus('online'); on.onOpen?.(); };
    sock.onmessage = (ev) => {
      let msg;
      try { msg = JSON.parse(ev.data); } catch { return; }
      if (!msg || typeof msg.type !== 'string') return;
      if (msg.type === 'error') lastError = String(msg.detail ?? '');
      on.onMessage(msg);
    };
    sock.onclose = (ev) => {
      if (ws !== sock || closed) return;
      ws = null;
      if (isFinal(ev)) { closed = true; on.onGone({ code: ev.code, reason: ev.reason || lastError }); return; }
      on.onStatus('reconnecting');
      timer = setTimeout(connect, backoff(attempt++));
    };
  }
  // A laptop that wakes up or a phone back on the network tries at once rather than at the end of a long wait.
  const online = () => { if (timer !== null) { clearTimeout(timer); attempt = 0; connect(); } };
  window.addEventListener('online', online);
  connect();
  return {
    send(msg) {
      if (!ws || ws.readyState !== WebSocket.OPEN) return false;
      ws.send(JSON.stringify(msg));
      return true;
    },
    close() {
      closed = true;
      clearTimeout(timer);
      window.removeEventListener('online', online);
      if (ws) { const s = ws; ws = null; s.close(1000); }
    },
    /** Drop the connection and make a new one now (a test, or a page that knows the network came back). */
    reconnect() { if (ws) ws.close(); else online(); },
  };
}
