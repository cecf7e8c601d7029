// The drawing pad: black ink on white (the preprocessing inverts a light background), pointer events for mouse, touch
// and pen, strokes kept as point lists so undo redraws without the last one. Also uploads (button or drop) and samples.

import { h } from '../lib/dom.js';

const SIZE = 280;

/**
 * @param {HTMLElement} root
 * @param {{onChange: (reason: 'move'|'end'|'clear'|'undo'|'sample'|'upload') => void, onFile: (file: File) => void,
 *   samples: {labels: number[], images: string[]}}} opts  samples: 28×28 uint8 images, base64
 */
export function createDrawPad(root, { onChange, onFile, samples }) {
  const canvas = h('canvas', { width: SIZE, height: SIZE, 'data-testid': 'draw-canvas', class: 'pad-canvas',
    role: 'img', 'aria-label': 'Drawing pad: draw one digit with the mouse, a finger or a pen' });
  const cta = h('p', { class: 'pad-cta', 'aria-hidden': 'true' }, 'Draw a digit here', h('small', {}, 'or drop an image'));
  const wrap = h('div', { class: 'pad-wrap' }, canvas, cta);
  const brush = h('input', { type: 'range', min: 6, max: 44, step: 1, value: 20, 'data-testid': 'brush',
    id: 'brush', 'aria-label': 'Brush size in pixels' });
  const brushValue = h('output', { for: 'brush', class: 'brush-value', text: '20 px' });
  const undo = h('button', { type: 'button', 'data-testid': 'undo', title: 'Undo the last stroke (Ctrl+Z)' }, 'Undo');
  const clear = h('button', { type: 'button', 'data-testid': 'clear', title: 'Clear the pad' }, 'Clear');
  const file = h('input', { type: 'file', accept: 'image/*', 'data-testid': 'upload', id: 'upload',
    class: 'visually-hidden', 'aria-label': 'Upload an image of a digit' });
  const uploadLabel = h('label', { for: 'upload', class: 'button' }, 'Upload image…');
  const tools = h('div', { class: 'pad-tools' },
    h('label', { class: 'brush', for: 'brush' }, 'Brush'), brush, brushValue);
  const buttons = h('div', { class: 'pad-tools' }, undo, clear, uploadLabel, file);
  const sampleRow = h('div', { class: 'samples', role: 'group', 'aria-label': 'Sample digits from MNIST' });
  root.append(wrap, tools, buttons, h('p', { class: 'samples-label' }, 'Or start from an MNIST digit:'), sampleRow);

  const ctx = canvas.getContext('2d', { willReadFrequently: true }); // its pixels are read for every forward
  /** @type {{size: number, points: number[][]}[]} */
  let strokes = [];
  let background = null; // a canvas or image bitmap drawn under the strokes
  /** @type {null | {sample: number} | {image: Uint8Array} | {file: true}} what the background is (a link says it) */
  let origin = null;
  let current = null;
  let version = 0;

  function paintStroke(s) {
    ctx.strokeStyle = ctx.fillStyle = '#000';
    ctx.lineWidth = s.size;
    ctx.lineCap = ctx.lineJoin = 'round';
    if (s.points.length === 1) {
      const [x, y] = s.points[0];
      ctx.beginPath();
      ctx.arc(x, y, s.size / 2, 0, 2 * Math.PI);
      ctx.fill();
      return;
    }
    ctx.beginPath();
    ctx.moveTo(...s.points[0]);
    for (const p of s.points.slice(1)) ctx.lineTo(...p);
    ctx.stroke();
  }

  function redraw() {
    ctx.fillStyle = '#fff';
    ctx.fillRect(0, 0, SIZE, SIZE);
    if (background) {
      ctx.imageSmoothingEnabled = true;
      const bw = background.width, bh = background.height;
      const k = Math.min(SIZE / bw, SIZE / bh);
      ctx.drawImage(background, (SIZE - bw * k) / 2, (SIZE - bh * k) / 2, bw * k, bh * k);
    }
    for (const s of strokes) paintStroke(s);
    refresh();
  }

  function refresh() {
    cta.hidden = !isEmpty();
    undo.disabled = strokes.length === 0;
  }

  function isEmpty() {
    return strokes.length === 0 && !background;
  }

  function changed(reason) {
    version += 1;
    refresh();
    onChange(reason);
  }

  // Whole pad pixels: a stroke is then kept exactly in a shareable link and drawn again the same.
  function point(ev) {
    const r = canvas.getBoundingClientRect();
    return [Math.round((ev.clientX - r.left) * (SIZE / r.width)), Math.round((ev.clientY - r.top) * (SIZE / r.height))];
  }

  canvas.addEventListener('pointerdown', (ev) => {
    if (ev.pointerType === 'mouse' && ev.button !== 0) return;
    ev.preventDefault();
    try { canvas.setPointerCapture(ev.pointerId); } catch { /* a synthetic pointer: drawing works without */ }
    current = { size: Number(brush.value), points: [point(ev)] };
    strokes.push(current);
    paintStroke(current);
    changed('move');
  });
  canvas.addEventListener('pointermove', (ev) => {
    if (!current) return;
    const events = ev.getCoalescedEvents ? ev.getCoalescedEvents() : [ev];
    const last = current.points[current.points.length - 1];
    ctx.strokeStyle = '#000';
    ctx.lineWidth = current.size;
    ctx.lineCap = ctx.lineJoin = 'round';
    ctx.beginPath();
    ctx.moveTo(...last);
    for (const e of events.length ? events : [ev]) {
      const p = point(e);
      current.points.push(p);
      ctx.lineTo(...p);
    }
    ctx.stroke();
    changed('move');
  });
  const end = () => {
    if (!current) return;
    current = null;
    // Drawn again whole: a stroke painted piece by piece while it moved darkens its joints' antialiased edges
    // twice, and the pixels must be the ones the same strokes give when a link draws them in one go.
    redraw();
    changed('end');
  };
  canvas.addEventListener('pointerup', end);
  canvas.addEventListener('pointercancel', end);

  brush.addEventListener('input', () => { brushValue.textContent = `${brush.value} px`; });
  undo.addEventListener('click', () => {
    if (!strokes.length) return;
    strokes.pop();
    redraw();
    changed('undo');
  });
  clear.addEventListener('click', () => {
    strokes = [];
    background = null;
    origin = null;
    redraw();
    changed('clear');
  });
  file.addEventListener('change', () => {
    if (file.files && file.files[0]) useFile(file.files[0]);
    file.value = '';
  });
  wrap.addEventListener('dragover', (ev) => { ev.preventDefault(); wrap.classList.add('is-drop'); });
  wrap.addEventListener('dragleave', () => wrap.classList.remove('is-drop'));
  wrap.addEventListener('drop', (ev) => {
    ev.preventDefault();
    wrap.classList.remove('is-drop');
    const f = ev.dataTransfer && ev.dataTransfer.files[0];
    if (f) useFile(f);
  });

  async function useFile(f) {
    onFile(f); // the server reads the file itself: its errors (not an image, too large) are the ones shown
    try {
      const bitmap = await createImageBitmap(f);
      strokes = [];
      background = bitmap;
      origin = { file: true };
      redraw();
      version += 1;
    } catch { /* not decodable here either: the server's message says why */ }
  }

  /** A sample (white on black, 28×28) as ink on the pad. @param {number} i */
  function sampleCanvas(i) {
    return imageCanvas(Uint8Array.from(atob(samples.images[i]), (c) => c.charCodeAt(0)));
  }

  /** @param {Uint8Array} bytes (28, 28) white on black */
  function imageCanvas(bytes) {
    const c = h('canvas', { width: 28, height: 28 });
    const img = c.getContext('2d').createImageData(28, 28);
    for (let k = 0; k < 784; k++) {
      const v = 255 - bytes[k];
      img.data.set([v, v, v, 255], 4 * k);
    }
    c.getContext('2d').putImageData(img, 0, 0);
    return c;
  }

  samples.labels.forEach((label, i) => {
    const thumb = sampleCanvas(i);
    thumb.className = 'sample-thumb';
    sampleRow.append(h('button', { type: 'button', class: 'sample', 'data-testid': `sample-${label}`,
      'aria-label': `Load the sample digit ${label}`, title: `MNIST test digit ${label}`,
      onclick: () => loadSample(i) }, thumb));
  });

  function loadSample(i) {
    strokes = [];
    background = sampleCanvas(i);
    origin = { sample: i };
    redraw();
    changed('sample');
  }

  redraw();
  return {
    /** The drawing's pixels (280×280 RGBA), for the page's preprocessing. @returns {ImageData} */
    pixels: () => ctx.getImageData(0, 0, SIZE, SIZE),
    isEmpty,
    get version() { return version; },
    loadSample,
    /** A 28×28 uint8 image (white on black) as the pad's ink, onChange not told: the caller sends it itself. */
    showImage(bytes) {
      strokes = [];
      background = imageCanvas(bytes);
      origin = { image: bytes };
      redraw();
      version += 1;
    },
    /** Strokes (whole pad pixels) as the pad's drawing, told as a new digit. @param {{size: number, points: number[][]}[]} list */
    loadStrokes(list) {
      strokes = list.map((st) => ({ size: st.size, points: st.points.map(([x, y]) => [x, y]) }));
      background = null;
      origin = null;
      redraw();
      changed('sample');
    },
    /**
     * What the pad shows, for a link: a sample untouched, the strokes of a drawing on a blank pad, or 'other' (a
     * file, an image, strokes over either: the link keeps the network's input instead), or null when empty.
     * @returns {null | {sample: number} | {strokes: {size: number, points: number[][]}[]} | 'other'}
     */
    content() {
      if (isEmpty()) return null;
      if (!background) return { strokes: strokes.map((st) => ({ size: st.size, points: st.points })) };
      if (origin && 'sample' in origin && !strokes.length) return { sample: origin.sample };
      return 'other';
    },
    undo: () => undo.click(),
    update() {},
  };
}
