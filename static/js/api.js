// The only module that knows URLs and the wire format: REST with fetch, arrays decoded from base64, outer products
// {outer: [u, v], scale} (a dense ∂E/∂W = δ·xᵀ) materialised with their factors kept, and the page's own 28×28 input
// encoded as a float32 array. The page asks for whole passes: the server's WebSocket, which streams a pass one layer
// at a time, is for other clients (its permessage-deflate costs the server more than the answers' zstd).

import { toBase64 } from './lib/bytes.js';
import { fromBase64, outer } from './lib/tensor.js';

/** An error the server answered with ({detail, code}) or a failure to reach it, in plain words. */
export class ApiError extends Error {
  constructor(message, { status = 0, code = 'network' } = {}) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/** A JSON body with base64 wire arrays ({shape, dtype, data}) and outer products → the same with tensors. */
export function decodeJson(value) {
  if (Array.isArray(value)) return value.map(decodeJson);
  if (value && typeof value === 'object') {
    if (Array.isArray(value.outer)) {
      const [u, v] = value.outer.map(decodeJson);
      return outer(u, v, value.scale ?? 1);
    }
    if (Array.isArray(value.shape) && typeof value.dtype === 'string' && 'data' in value) {
      return fromBase64(value.data, value.dtype, value.shape);
    }
    const out = {};
    for (const [k, v] of Object.entries(value)) out[k] = decodeJson(v);
    return out;
  }
  return value;
}

/**
 * A float32 tensor as a wire array: its little-endian bytes in base64 (every browser this page runs in is
 * little-endian, as typed arrays use the platform's order).
 * @param {{shape: number[], data: ArrayLike<number>}} t  @returns {{shape: number[], dtype: 'float32', data: string}}
 */
export function encodeFloat32(t) {
  const f32 = t.data instanceof Float32Array ? t.data : Float32Array.from(t.data);
  const bytes = new Uint8Array(f32.buffer, f32.byteOffset, f32.byteLength);
  return { shape: t.shape, dtype: 'float32', data: toBase64(bytes) };
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

const RETRIES = 3;
const MAX_RETRY_WAIT_S = 5;

export function createApi() {
  const tab = tabId();
  const headers = { 'X-Tab-Id': tab };

  /**
   * One request. A server that says it is busy (429: this tab has a request running and one waiting; 503: the
   * server is full) and when to come back (Retry-After, up to MAX_RETRY_WAIT_S) is asked again then, up to
   * RETRIES times, so a learner waits a moment rather than sees an error; after that its message is shown.
   */
  async function request(method, path, body, attempt = 0) {
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
    const wait = Number(res.headers.get('Retry-After'));
    if ((res.status === 429 || res.status === 503) && attempt < RETRIES && wait >= 0 && wait <= MAX_RETRY_WAIT_S) {
      await new Promise((resolve) => setTimeout(resolve, Math.max(wait, 0.2) * 1000));
      return request(method, path, body, attempt + 1);
    }
    if (!res.ok) throw await errorOf(res);
    return decodeJson(await res.json());
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
    /**
     * The whole backward pass for (target, loss) on the input the server holds: {target, loss_name, loss,
     * prediction, probabilities, layers}, layers from the last to the first.
     */
    backward: (target, loss = 'cross_entropy') => request('POST', '/api/backward', { target, loss }),
    /** One SGD step from the backward the server holds for (target, loss), computed there if it holds none. */
    step: ({ lr, momentum = 0, target, loss }) => request('POST', '/api/step', { lr, momentum, target, loss }),
    params: (layer) => request('GET', `/api/params/${encodeURIComponent(layer)}`),
    /** The guided lessons: [{id, title, summary, cards}]; one lesson, validated by the server. */
    lessons: () => request('GET', '/api/lessons'),
    lesson: (id) => request('GET', `/api/lessons/${encodeURIComponent(id)}`),
    reset: () => request('POST', '/api/reset'),
    gradcheck: (param, samples = 8, seed = 0) => request('POST', '/api/gradcheck', { param, samples, seed }),
    /** Why the network predicts what it does: {method, target?} → {map (H, W), target, label, meaning, …}. */
    explain: (body) => request('POST', '/api/explain', body),
    inputSteps: () => request('GET', '/api/input/steps'),
    /** The architecture this tab's session runs (the served one, or one trained in the lab and put to use). */
    model: () => request('GET', '/api/model'),
    // The training lab (app/routes/train.py): the editor's check and presets, jobs, their stream and results.
    specCheck: (spec) => request('POST', '/api/spec/check', { spec }),
    presets: () => request('GET', '/api/presets'),
    train: (body) => request('POST', '/api/train', body),
    trainStatus: (id, since = 0) => request('GET', `/api/train/${encodeURIComponent(id)}?since=${since}`),
    /** @param {'pause'|'resume'|'stop'|'use'} what */
    trainAction: (id, what) => request('POST', `/api/train/${encodeURIComponent(id)}/${what}`),
    checkpoint: (id, k) => request('GET', `/api/train/${encodeURIComponent(id)}/checkpoints/${k}`),
    testDigit: (index) => request('GET', `/api/mnist/test/${index}`),
    trainedModelUrl: (id) => `/api/train/${encodeURIComponent(id)}/model.npz`,
    /**
     * A job's messages from `since` on, decoded, as they come (WS /ws/train/{id}); onEnd(closedCleanly) when the
     * stream ends. @returns {() => void} close
     */
    trainStream(id, since, onMessage, onEnd) {
      const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
      const ws = new WebSocket(`${scheme}://${location.host}/ws/train/${encodeURIComponent(id)}?since=${since}`);
      let ended = false;
      ws.onmessage = (ev) => onMessage(decodeJson(JSON.parse(ev.data)));
      ws.onclose = (ev) => { if (!ended) { ended = true; onEnd(ev.code === 1000); } };
      return () => { ended = true; ws.close(); };
    },
    /** The .npz of this tab's tensors: a plain link, so the tab goes in the query. */
    exportUrl: () => `/api/export?tab=${encodeURIComponent(tab)}`,
  };
}
