// The 28×28 input as the network reads it, pixel-exact (a 28×28 canvas scaled with image-rendering: pixelated), the
// preprocessing steps on request, and the error area beside the input.

import { h, replace } from '../lib/dom.js';
import { fmt } from '../lib/format.js';

/**
 * Paint (H, W) values in [0, 1] into a canvas of H×W pixels, 0 = white and 1 = black as in every map of the page;
 * (3, H, W) in colour. An input a model's
 * mean/std normalized (values outside [0, 1]) is shown stretched from its least to its largest value.
 * @param {import('../lib/tensor.js').Tensor} t
 */
function paint(canvas, t) {
  const [H, W] = t.shape.slice(-2);
  const colour = t.shape.length === 3 && t.shape[0] === 3;
  canvas.width = W;
  canvas.height = H;
  const ctx = canvas.getContext('2d');
  const img = ctx.createImageData(W, H);
  let lo = 0, hi = 1;
  for (const v of t.data) { if (v < lo) lo = v; if (v > hi) hi = v; }
  const byte = (v) => Math.round(255 * Math.min(1, Math.max(0, (v - lo) / (hi - lo || 1))));
  for (let k = 0; k < H * W; k++) {
    if (colour) img.data.set([byte(t.data[k]), byte(t.data[H * W + k]), byte(t.data[2 * H * W + k])], 4 * k);
    // One grey convention for the input and every map: 0 white, the largest black (the layers' legend says so).
    else img.data[4 * k] = img.data[4 * k + 1] = img.data[4 * k + 2] = 255 - byte(t.data[k]);
    img.data[4 * k + 3] = 255;
  }
  ctx.putImageData(img, 0, 0);
}

const STEP_WORDS = {
  grayscale: 'grey levels', inverted: 'inverted: ink = 1', cropped: 'cropped to the ink',
  scaled: 'longer side 20 px', centered: 'centre of mass at (14, 14)',
};

/**
 * @param {HTMLElement} root
 * @param {{onStepsOpen: () => void}} opts
 * @returns {{update: (input: import('../lib/tensor.js').Tensor | null) => void, updateSteps: (steps: object) => void,
 *   stepsOpen: () => boolean}}
 */
export function createInputView(root, { onStepsOpen, stepsRoot = root }) {
  const canvas = h('canvas', { width: 28, height: 28, class: 'input-canvas pixelated', 'data-testid': 'input-28',
    role: 'img', 'aria-label': 'The 28 by 28 input the network reads' });
  const readout = h('p', { class: 'readout', 'aria-live': 'off' }, 'hover a pixel for its value');
  // What looks wrong with an uploaded picture's input (the server's doubts: ink at the edge, too little or too much).
  const doubts = h('ul', { class: 'input-warnings', role: 'status', 'data-testid': 'input-warnings', hidden: true });
  const stepsBox = h('div', { class: 'steps' });
  const details = h('details', { class: 'steps-details' },
    h('summary', {}, 'How the drawing becomes 28×28'), stepsBox);
  const caption = h('p', { class: 'caption' }, '28×28 values in [0, 1]: white 0 → black 1, as in every map below');
  root.append(h('div', { class: 'input-box' },
    h('h3', { class: 'mini-title' }, 'What the network reads'), canvas, caption, readout, doubts));
  stepsRoot.append(details);
  let input = null;

  canvas.addEventListener('mousemove', (ev) => {
    if (!input) return;
    const r = canvas.getBoundingClientRect();
    const [H, W] = input.shape.slice(-2);
    const col = Math.min(W - 1, Math.floor((ev.clientX - r.left) / r.width * W));
    const row = Math.min(H - 1, Math.floor((ev.clientY - r.top) / r.height * H));
    const values = Array.from({ length: input.data.length / (H * W) }, (_, c) => input.data[c * H * W + row * W + col]);
    readout.textContent = `row ${row}, col ${col}: ${values.map((v) => fmt(v, 6)).join(', ')}`;
  });
  details.addEventListener('toggle', () => { if (details.open) onStepsOpen(); });

  return {
    /** @param {string[]} [warnings] what the server doubts about the input it made from a picture */
    update(t, warnings = []) {
      input = t;
      doubts.replaceChildren(...warnings.map((w) => h('li', {}, w)));
      doubts.hidden = !warnings.length;
      canvas.classList.toggle('is-empty', !t);
      if (t) paint(canvas, t);
      if (t) {
        caption.textContent = t.shape.length === 3 ? `${t.shape.join('×')}: red, green, blue, each in [0, 1] unless `
          + 'the model normalizes them' : t.shape[0] === 28 && t.shape[1] === 28
          ? '28×28 values in [0, 1]: white 0 → black 1, as in every map below' : `${t.shape.join('×')} values: white 0 → black 1`;
      }
      else canvas.getContext('2d').clearRect(0, 0, 28, 28);
    },
    updateSteps(steps) {
      replace(stepsBox, ...Object.entries(steps).map(([name, t]) => {
        const c = h('canvas', { class: 'pixelated' });
        paint(c, t);
        const [H, W] = t.shape.slice(-2);
        const k = 96 / Math.max(H, W);
        c.style.width = `${Math.max(1, Math.round(W * k))}px`;
        c.style.height = `${Math.max(1, Math.round(H * k))}px`;
        return h('figure', { class: 'step' }, h('div', { class: 'step-frame' }, c),
          h('figcaption', {}, h('b', {}, name), ` ${t.shape.join('×')}`, h('br'), STEP_WORDS[name] || ''));
      }));
    },
    stepsOpen: () => details.open,
  };
}

/** The error area: plain words from the server, role="alert". @param {HTMLElement} root */
export function createErrorView(root) {
  const el = h('p', { class: 'error', role: 'alert', 'data-testid': 'error' });
  root.append(el);
  return {
    /** @param {string|null} message */
    update(message) {
      el.textContent = message || '';
      el.classList.toggle('has-error', !!message);
    },
  };
}
