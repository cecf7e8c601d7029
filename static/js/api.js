// The only module that knows URLs and the wire format: REST with fetch, passes over the WebSocket, arrays decoded
// from base64 (JSON) or from binary frames (4-byte little-endian header length, JSON header, raw bytes), outer
// products {outer: [u, v], scale} (a dense ∂E/∂W = δ·xᵀ) materialised with their factors kept, and the page's own
// 28×28 input encoded as a float32 array. It also holds the one live WebSocket pass: a connection, not state.

import { fromBase64, fromBuffer, outer } from './lib/tensor.js';

/** An error the server answered with ({detail, code}) or a failure to reach it, in plain words. */
export class ApiError extends Error {
  constructor(message, { status = 0, code = 'network' } = {}) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/** Replace every wire array inside `value` by a tensor. @param {any} value @param {(a: object) => object} leaf */
function decodeArrays(value, leaf) {
  if (Array.isArray(value)) return value.map((v) => decodeArrays(v, leaf));
  if (value && typeof value === 'object') {
    if (Array.isArray(value.outer)) {
      const [u, v] = value.outer.map((f) => decodeArrays(f, leaf));
      return outer(u, v, value.scale ?? 1);
    }
    if (Array.isArray(value.shape) && typeof value.dtype === 'string' && ('data' in value || 'offset' in value)) {
      return leaf(value);
    }
    const out = {};
    for (const [k, v] of Object.entries(value)) out[k] = decodeArrays(v, leaf);
    return out;
  }
  return value;
}

/** A JSON body with base64 arrays → the same with tensors. @param {any} json */
export function decodeJson(json) {
  return decodeArrays(json, (a) => fromBase64(a.data, a.dtype, a.shape));
}

/** A binary WebSocket frame → its message, arrays as zero-copy views of the frame. @param {ArrayBuffer} buffer */
export function decodeFrame(buffer) {
  const length = new DataView(buffer).getUint32(0, true);
  const header = JSON.parse(new TextDecoder().decode(new Uint8Array(buffer, 4, length)));
  const base = 4 + length;
  return decodeArrays(header, (a) => fromBuffer(buffer, base + a.offset, a.nbytes, a.dtype, a.shape));
}

/**
 * A float32 tensor as a wire array: its little-endian bytes in base64 (every browser this page runs in is
 * little-endian, as typed arrays use the platform's order).
 * @param {{shape: number[], data: ArrayLike<number>}} t  @returns {{shape: number[], dtype: 'float32', data: string}}
 */
export function encodeFloat32(t) {
  const f32 = t.data instanceof Float32Array ? t.data : Float32Array.from(t.data);
  const bytes = new Uint8Array(f32.buffer, f32.byteOffset, f32.byteLength);
  let bin = '';
  for (let i = 0; i < bytes.length; i += 0x8000) bin += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return { shape: t.shape, dtype: 'float32', data: btoa(bin) };
}

/** This tab's id: each tab gets its own copy of the model on the server (sessionStorage outlives reloads). */
function tabId() {
  const KEY = 'cnn-visualizer-tab';
  let id = sessionStorage.getItem(KEY);
  if (!id) {
    const bytes = crypto.getRandomValues(new Uint8Array(18));
    id = btoa(String.fromCharCode(...bytes)).replace(/\+/g, '-').replace(/\//g, '_');
    sessionStorage.setItem(KEY, id);
  }
  return id;
}

/** @param {Response} res */
async function errorOf(res) {
  let detail = `the server answered ${res.status} ${res.statusText}`, code = 'http_error';
  try {
    const body = await res.json();
    if (body.detail) detail = typeof body.detail === 'string' ? body.detail : JSON.stringify(body.detail);
    if (body.code) code = body.code;
  } catch { /* not JSON: keep the status line */ }
  return new ApiError(detail, { status: res.status, code });
}

export function createApi() {
  const tab = tabId();
  const headers = { 'X-Tab-Id': tab };
  let live = null; // the open pass: {ws, closed, queue: commands before the socket opens, inbox: messages this frame}

  async function request(method, path, body) {
    let res;
    const init = { method, headers: { ...headers } };
    if (body instanceof FormData) init.body = body;
    else if (body !== undefined) {
      init.body = JSON.stringify(body);
      init.headers['Content-Type'] = 'application/json';
    }
    try {
      res = await fetch(path, init);
    } catch {
      throw new ApiError('the server cannot be reached: is it running?');
    }
    if (!res.ok) throw await errorOf(res);
    return decodeJson(await res.json());
  }

  function send(obj) {
    if (!live || live.closed) return;
    const text = JSON.stringify(obj);
    if (live.ws.readyState === WebSocket.OPEN) live.ws.send(text);
    else live.queue.push(text);
  }

  function closePass() {
    if (!live) return;
    live.closed = true;
    if (live.ws.readyState === WebSocket.OPEN) live.ws.close(1000);
    live = null;
  }

  return {
    tab,
    /**
     * Run forward on the page's own 28×28 input ({input: Tensor (28, 28) float32 in [0, 1]}: the answer's input is
     * null) or on a file ({file}: the server preprocesses it and answers with the input it made).
     */
    forward(source) {
      if (source.file) {
        const form = new FormData();
        form.append('file', source.file);
        return request('POST', '/api/forward', form);
      }
      return request('POST', '/api/forward', { input: encodeFloat32(source.input) });
    },
    backward: (target, loss = 'cross_entropy') => request('POST', '/api/backward', { target, loss }),
    /** One SGD step from the backward the server holds for (target, loss), computed there if it holds none. */
    step: ({ lr, momentum = 0, target, loss }) => request('POST', '/api/step', { lr, momentum, target, loss }),
    params: (layer) => request('GET', `/api/params/${encodeURIComponent(layer)}`),
    reset: () => request('POST', '/api/reset'),
    gradcheck: (param, samples = 8, seed = 0) => request('POST', '/api/gradcheck', { param, samples, seed }),
    inputSteps: () => request('GET', '/api/input/steps'),
    /** The .npz of this tab's tensors: a plain link, so the tab goes in the query. */
    exportUrl: () => `/api/export?tab=${encodeURIComponent(tab)}`,

    /**
     * Start a pass over the WebSocket: sends `command` ({cmd: 'backward', target, loss, mode}) on a fresh socket,
     * closing any pass still open, and hands its messages over decoded, a batch per animation frame: a run's
     * fourteen messages reach the page as one change, painted once. One socket per pass: closing it drops whatever
     * was still on its way, so a stale pass can never paint over a new one.
     * @param {object} command
     * @param {{onMessages: (msgs: object[]) => void, onError: (err: ApiError) => void}} handlers
     */
    openPass(command, { onMessages, onError }) {
      closePass();
      const proto = location.protocol === 'https:' ? 'wss' : 'ws';
      const ws = new WebSocket(`${proto}://${location.host}/ws?tab=${encodeURIComponent(tab)}`);
      ws.binaryType = 'arraybuffer';
      const pass = { ws, closed: false, queue: [JSON.stringify(command)], inbox: [] };
      live = pass;
      const flush = () => {
        const msgs = pass.inbox.splice(0);
        if (!pass.closed && msgs.length) onMessages(msgs);
      };
      const fail = (err) => {
        if (pass.closed) return;
        flush();
        if (!pass.closed) onError(err);
      };
      ws.onopen = () => {
        if (pass.closed) ws.close(1000); // closing a socket still connecting logs an error in Chromium: wait for open
        else for (const t of pass.queue.splice(0)) ws.send(t);
      };
      ws.onmessage = (ev) => {
        if (pass.closed) return;
        const msg = typeof ev.data === 'string' ? JSON.parse(ev.data) : decodeFrame(ev.data);
        if (msg.type === 'error') { fail(new ApiError(msg.message, { code: msg.code })); return; }
        pass.inbox.push(msg);
        if (pass.inbox.length === 1) requestAnimationFrame(flush);
      };
      ws.onerror = () => fail(new ApiError('the connection to the server failed'));
      ws.onclose = (ev) => {
        if (ev.code !== 1000) fail(new ApiError('the connection to the server was lost'));
        else flush();
        pass.closed = true;
        if (live === pass) live = null;
      };
    },
    /** The next layer of the open pass. */
    passNext: () => send({ cmd: 'next' }),
    /** The rest of the open pass. */
    passRun: () => send({ cmd: 'run' }),
    closePass,
  };
}
