// The only module that knows URLs and the wire format: REST with fetch, passes over the WebSocket, arrays decoded
// from base64 (JSON) or from binary frames (4-byte little-endian header length, JSON header, raw bytes), and
// outer products {outer: [u, v], scale} (a dense ∂E/∂W = δ·xᵀ) materialised with their factors kept.

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

  return {
    tab,
    /** Run forward on a drawing ({dataUrl}) or a file ({file}). */
    forward(input) {
      if (input.file) {
        const form = new FormData();
        form.append('file', input.file);
        return request('POST', '/api/forward', form);
      }
      return request('POST', '/api/forward', { image: input.dataUrl });
    },
    backward: (target, loss = 'cross_entropy') => request('POST', '/api/backward', { target, loss }),
    step: (lr, momentum = 0) => request('POST', '/api/step', { lr, momentum }),
    params: (layer) => request('GET', `/api/params/${encodeURIComponent(layer)}`),
    reset: () => request('POST', '/api/reset'),
    gradcheck: (param, samples = 8, seed = 0) => request('POST', '/api/gradcheck', { param, samples, seed }),
    inputSteps: () => request('GET', '/api/input/steps'),
    /** The .npz of this tab's tensors: a plain link, so the tab goes in the query. */
    exportUrl: () => `/api/export?tab=${encodeURIComponent(tab)}`,

    /**
     * A pass over the WebSocket: sends `command` ({cmd: 'backward', target, loss, mode}) on a fresh socket and hands
     * every message to onMessage, decoded. One socket per pass: closing it drops whatever was still on its way, so a
     * stale pass can never paint over a new one.
     * @param {object} command
     * @param {{onMessage: (msg: object) => void, onError: (err: ApiError) => void}} handlers
     * @returns {{next: () => void, run: () => void, close: () => void}}
     */
    openPass(command, { onMessage, onError }) {
      const proto = location.protocol === 'https:' ? 'wss' : 'ws';
      const ws = new WebSocket(`${proto}://${location.host}/ws?tab=${encodeURIComponent(tab)}`);
      ws.binaryType = 'arraybuffer';
      let closed = false;
      const queue = [JSON.stringify(command)];
      const send = (obj) => {
        if (closed) return;
        const text = JSON.stringify(obj);
        if (ws.readyState === WebSocket.OPEN) ws.send(text);
        else queue.push(text);
      };
      ws.onopen = () => {
        if (closed) ws.close(1000); // closing a socket still connecting logs an error in Chromium: wait for open
        else for (const t of queue.splice(0)) ws.send(t);
      };
      ws.onmessage = (ev) => {
        if (closed) return;
        const msg = typeof ev.data === 'string' ? JSON.parse(ev.data) : decodeFrame(ev.data);
        if (msg.type === 'error') onError(new ApiError(msg.message, { code: msg.code }));
        else onMessage(msg);
      };
      ws.onerror = () => { if (!closed) onError(new ApiError('the connection to the server failed')); };
      ws.onclose = (ev) => {
        if (!closed && ev.code !== 1000) onError(new ApiError('the connection to the server was lost'));
        closed = true;
      };
      return {
        next: () => send({ cmd: 'next' }),
        run: () => send({ cmd: 'run' }),
        close() {
          closed = true;
          if (ws.readyState === WebSocket.OPEN) ws.close(1000);
        },
      };
    },
  };
}
