// "Load a model": the header's file control that uploads an .onnx or .npz (POST /api/model), shows its summary
// (layers, output shapes, parameters, input shape, labels, what the import folded or dropped) or the server's error
// in plain words, and switches the page to the network the session now runs. Its state is the store's: `model`
// (GET /api/model, the summary shown) and `modelUpload` ({busy, error, file}).
//
// A digit model (preprocessing "mnist", 1×28×28) reads the page's own 28×28 input, as the served one does; any other
// reads the drawing as an image that the server resizes to its H×W (colour for C = 3): modelTakesImages says which.

import { ApiError } from '../api.js';
import { h, replace } from '../lib/dom.js';
import { noBackward } from '../state.js';

const ACCEPT = '.onnx,.npz';

/** The model is not a digit reader: the page sends its drawing as an image. @param {object} model GET /api/model */
export function modelTakesImages(model) {
  return model?.preprocessing === 'resize';
}

/**
 * The pad's drawing as a PNG file, for the server to preprocess for the session's model.
 * @param {ImageData} pixels  @returns {File}
 */
export function drawingFile(pixels) {
  const c = h('canvas', { width: pixels.width, height: pixels.height });
  c.getContext('2d').putImageData(pixels, 0, 0);
  const bin = atob(c.toDataURL('image/png').split(',')[1]);
  return new File([Uint8Array.from(bin, (ch) => ch.charCodeAt(0))], 'drawing.png', { type: 'image/png' });
}

/**
 * Upload a model for this tab's session. The only request this module makes: api.js, shared with the training lab's
 * work in progress, gains it later. @param {{tab: string}} api  @param {File} file
 * @param {{labels: string, mean: string, std: string}} choices  the learner's, sent when not empty
 */
async function uploadModel(api, file, choices) {
  const form = new FormData();
  form.append('file', file);
  for (const [k, v] of Object.entries(choices)) if (v.trim()) form.append(k, v.trim());
  let res;
  try {
    res = await fetch('/api/model', { method: 'POST', headers: { 'X-Tab-Id': api.tab }, body: form });
  } catch {
    throw new ApiError('the server cannot be reached: is it running?');
  }
  const body = await res.json().catch(() => ({}));
  if (!res.ok) {
    throw new ApiError(body.detail || `the server answered ${res.status} ${res.statusText}`,
      { status: res.status, code: body.code || 'http_error' });
  }
  return body;
}

const shape = (s) => s.join('×');

/** The summary of `m` as a table and notes. @param {object} m  GET /api/model */
function summaryOf(m) {
  const origin = m.source === 'uploaded' ? `${m.file} (${m.format})` : m.source === 'trained'
    ? 'a network trained in the lab' : `the served model${m.file ? ` (${m.file})` : ''}`;
  const rows = m.layers.map((L) => h('tr', {}, h('td', {}, L.name), h('td', {}, L.kind),
    h('td', { class: 'num' }, shape(L.output_shape)), h('td', { class: 'num' }, L.params.toLocaleString('en'))));
  const norm = m.mean && m.std ? `normalized per channel: mean ${m.mean.join(', ')}, std ${m.std.join(', ')}` : null;
  return [
    h('p', {}, h('b', {}, origin), `: input ${shape(m.input_shape)}, ${m.total_params.toLocaleString('en')} `
      + `weights, ${m.class_labels.length} classes (${m.class_labels.slice(0, 12).join(', ')}`
      + `${m.class_labels.length > 12 ? ', …' : ''}).`),
    h('p', { class: 'caption' }, m.preprocessing === 'mnist'
      ? 'A digit model: the drawing is preprocessed as MNIST was.'
      : `The drawing is resized to ${m.input_shape[1]}×${m.input_shape[2]}${m.input_shape[0] === 3 ? ' in colour' : ''}`
        + ' by the server.', norm ? ` Inputs are ${norm}.` : ''),
    h('table', { class: 'model-table', 'data-testid': 'model-load-layers' },
      h('thead', {}, h('tr', {}, h('th', {}, 'layer'), h('th', {}, 'kind'), h('th', {}, 'output'),
        h('th', {}, 'weights'))),
      h('tbody', {}, rows)),
    m.notes?.length ? h('ul', { class: 'model-notes', 'data-testid': 'model-load-notes' },
      m.notes.map((n) => h('li', {}, h('b', {}, `${n.op} '${n.node}'`), `: ${n.action} (${n.why})`))) : null,
    m.output && m.output !== 'logits'
      ? h('p', { class: 'caption' }, `The file's model returned ${m.output}; here the last layer gives logits and `
        + 'the loss applies the softmax.') : null,
  ];
}

/**
 * @param {HTMLElement} root  the header's slot
 * @param {{api: ReturnType<import('../api.js').createApi>, store: ReturnType<import('../state.js').createStore>,
 *   sendInput: () => void}} deps  sendInput: send the page's input again, for the network the session now runs
 * @returns {{adopt: () => Promise<void>}}
 */
export function createModelLoad(root, { api, store, sendInput }) {
  const input = h('input', { type: 'file', accept: ACCEPT, class: 'visually-hidden', id: 'model-file',
    'data-testid': 'model-file' });
  const status = h('span', { class: 'model-load-status', 'aria-live': 'polite', 'data-testid': 'model-load-status' });
  const error = h('p', { class: 'error', role: 'alert', 'data-testid': 'model-load-error' });
  const body = h('div', { class: 'model-load-summary', 'data-testid': 'model-load-summary' });
  const details = h('details', { class: 'model-load-details' }, h('summary', {}, 'Model summary'), body);
  const field = (name, label, placeholder) => h('label', { class: 'field-row' }, `${label} `,
    h('input', { type: 'text', name, placeholder, 'data-testid': `model-${name}`, size: 28 }));
  const options = h('details', { class: 'model-load-options' },
    h('summary', {}, 'Labels and normalization (optional, else the file’s)'),
    field('labels', 'Class labels', 'cat, dog, … one per output'),
    field('mean', 'Mean per channel', '0.4914, 0.4822, 0.4465'),
    field('std', 'Std per channel', '0.2470, 0.2435, 0.2616'));
  const choices = () => Object.fromEntries(['labels', 'mean', 'std'].map((k) => [k,
    options.querySelector(`input[name=${k}]`).value]));
  root.append(h('div', { class: 'model-load' },
    h('label', { for: 'model-file', class: 'button', title: 'An .onnx (as PyTorch exports it) or an .npz '
      + 'saved by cnn-train: this tab runs it until Reset' }, 'Load a model…'), input, status, error, options,
    details));

  /** Read the session's architecture again and show it: everything computed for the old one goes. */
  async function adopt() {
    const model = await api.model();
    const s = store.get();
    store.set({ model, trained: null, forward: null, params: {}, paramsFetch: s.paramsFetch + 1, update: null,
      backward: noBackward(s.backward), held: null, cursor: null, selection: null, neuron: null, error: null });
    sendInput();
  }

  input.addEventListener('change', async () => {
    const file = input.files?.[0];
    input.value = ''; // the same file chosen again uploads again
    if (!file) return;
    store.set({ modelUpload: { busy: true, error: null, file: file.name } });
    try {
      await uploadModel(api, file, choices());
      store.set({ modelUpload: { busy: false, error: null, file: file.name } });
      details.open = true;
      await adopt();
    } catch (err) {
      store.set({ modelUpload: { busy: false, error: err.message, file: file.name } });
    }
  });

  store.subscribe((s, prev) => {
    if (s.modelUpload !== prev.modelUpload) {
      const u = s.modelUpload || {};
      status.textContent = u.busy ? `reading ${u.file}…` : '';
      error.textContent = u.error ? `${u.file}: ${u.error}` : '';
      error.classList.toggle('has-error', !!u.error);
    }
    if (s.model !== prev.model) replace(body, ...summaryOf(s.model));
  });
  replace(body, ...summaryOf(store.get().model));
  return { adopt };
}
