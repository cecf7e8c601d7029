// "Why this prediction?": a saliency, Grad-CAM or occlusion map (POST /api/explain, computed by the engine on the
// session's weights) drawn over the input the network reads, for the predicted class or a chosen one, with one
// sentence on what it means. Asked for only while a method is chosen, and again after each new input or update.

import { h } from '../lib/dom.js';
import { fmt } from '../lib/format.js';

const METHODS = [
  ['', 'Off'],
  ['saliency', 'Saliency'],
  ['grad_cam', 'Grad-CAM'],
  ['occlusion', 'Occlusion'],
];

/**
 * Paint a map as a translucent overlay: red where it is positive, blue where negative (the page's convention for
 * signed values), opacity growing with |value| / its largest.
 * @param {HTMLCanvasElement} canvas  @param {{shape: number[], data: ArrayLike<number>}} map
 */
function paintOverlay(canvas, map) {
  const [H, W] = map.shape;
  canvas.width = W;
  canvas.height = H;
  const ctx = canvas.getContext('2d');
  const img = ctx.createImageData(W, H);
  let top = 0;
  for (const v of map.data) top = Math.max(top, Math.abs(v));
  for (let k = 0; k < H * W; k++) {
    const v = top ? map.data[k] / top : 0;
    img.data.set(v >= 0 ? [230, 40, 30] : [30, 90, 230], 4 * k);
    img.data[4 * k + 3] = Math.round(210 * Math.min(1, Math.abs(v)));
  }
  ctx.putImageData(img, 0, 0);
}

/**
 * @param {HTMLElement} root  where the controls and the sentence go
 * @param {HTMLCanvasElement} over  the input's canvas, which the overlay covers exactly
 * @param {{explain: (body: object) => Promise<object>}} api
 * @returns {{update: (s: object) => void}}
 */
export function createWhyView(root, over, api) {
  const overlay = h('canvas', { class: 'why-overlay pixelated', 'data-testid': 'why-overlay', hidden: true,
    'aria-hidden': 'true' });
  over.insertAdjacentElement('afterend', overlay);
  over.parentElement.classList.add('why-host');
  const method = h('select', { id: 'why-method', 'data-testid': 'why-method' },
    ...METHODS.map(([value, label]) => h('option', { value }, label)));
  const target = h('select', { id: 'why-class', 'data-testid': 'why-class' });
  const meaning = h('p', { class: 'hint why-meaning', 'data-testid': 'why-meaning', 'aria-live': 'polite' });
  root.append(h('div', { class: 'why' },
    h('h3', { class: 'mini-title' }, 'Why this prediction?'),
    h('div', { class: 'why-controls' },
      h('label', { for: 'why-method' }, 'Show '), method,
      h('label', { for: 'why-class' }, ' for '), target),
    meaning));

  let last = { forward: null, labels: null, key: '' };
  let asked = 0;

  async function ask() {
    const m = method.value;
    const id = ++asked;
    if (!m || !last.forward) {
      overlay.hidden = true;
      meaning.textContent = m ? 'Draw or upload a digit first.' : '';
      return;
    }
    meaning.textContent = 'computing…';
    try {
      const body = { method: m, ...(target.value === '' ? {} : { target: Number(target.value) }) };
      const r = await api.explain(body);
      if (id !== asked) return; // a newer question was asked meanwhile
      paintOverlay(overlay, r.map);
      // Exactly over the input's canvas, wherever the layout put it (pointer events go through to its readout).
      Object.assign(overlay.style, { left: `${over.offsetLeft}px`, top: `${over.offsetTop}px`,
        width: `${over.offsetWidth}px`, height: `${over.offsetHeight}px` });
      overlay.hidden = false;
      overlay.dataset.method = r.method;
      overlay.dataset.target = String(r.target);
      let top = 0;
      for (const v of r.map.data) top = Math.max(top, Math.abs(v));
      meaning.textContent = `${r.meaning} Strongest: ${fmt(top, 3)}.`;
    } catch (err) {
      if (id !== asked) return;
      overlay.hidden = true;
      meaning.textContent = err.message;
    }
  }

  method.addEventListener('change', ask);
  target.addEventListener('change', ask);

  return {
    update(s) {
      const labels = s.model.class_labels;
      if (labels !== last.labels) {
        const keep = target.value;
        target.replaceChildren(h('option', { value: '' }, 'the predicted class'),
          ...labels.map((label, k) => h('option', { value: String(k) }, label)));
        target.value = Number(keep) < labels.length ? keep : '';
      }
      // A new input, or new weights (an update gives a new forward): the map is out of date.
      const changed = s.forward !== last.forward;
      last = { forward: s.forward, labels, key: '' };
      if (changed && method.value) ask();
      if (!s.forward) overlay.hidden = true;
    },
  };
}
