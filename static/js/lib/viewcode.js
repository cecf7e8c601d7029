// A view (view.js) as the fragment of a shareable link, and back: `v=1&d=s7&t=3&l=ce&r=4&c=3&x=3.delta.0-4-4…`.
// Compact (a drawing's strokes as varint deltas, an input image with its runs of zeros packed, both in base64url),
// versioned (v), and read strictly: a field that does not parse is left out and named, so a damaged link still opens
// the rest of its view, and a link of another format version opens nothing of it and says so. Pure functions: the
// page's share control (views/share.js) and node's tests (tests/js/viewcode.test.mjs) use them alike.

import { toBase64 } from './bytes.js';

export const FORMAT = 1;
const PAD = 280; // the drawing pad's size in pixels: stroke points lie in [0, PAD)
const LIMITS = { strokes: 64, points: 5000, size: 100, chars: 12_000 };
const LOSSES = { ce: 'cross_entropy', mse: 'mse' };
const PARTS = new Set(['delta', 'down', 'dW', 'db']);
const MODELS = new Set(['served', 'trained', 'uploaded']);
const LESSON_ID = /^[a-z0-9][a-z0-9-]{0,63}$/;

/** What each field is called when a link names its damaged parts. */
const FIELD_NAMES = { d: 'the digit', t: 'the target', l: 'the loss', r: 'how far backward went', c: 'the layer',
  x: 'the picked cell', n: 'the neuron', lr: 'the learning rate', mu: 'the momentum', m: 'the model',
  L: 'the lesson card' };

// ---- bytes: unsigned varints (7 bits a byte), zigzag for signed deltas, base64url without padding

function pushVarint(out, n) {
  while (n >= 0x80) { out.push((n & 0x7f) | 0x80); n >>>= 7; }
  out.push(n);
}

function reader(bytes) {
  let pos = 0;
  return {
    varint() {
      let n = 0, shift = 0;
      for (;;) {
        if (pos >= bytes.length || shift > 28) throw new Error('truncated');
        const b = bytes[pos++];
        n += (b & 0x7f) * 2 ** shift;
        if (b < 0x80) return n;
        shift += 7;
      }
    },
    signed() { const z = this.varint(); return z % 2 ? -(z + 1) / 2 : z / 2; },
    done: () => pos === bytes.length,
  };
}

const zigzag = (n) => (n < 0 ? -2 * n - 1 : 2 * n);

export function toBase64url(bytes) {
  return toBase64(bytes).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

export function fromBase64url(text) {
  if (!/^[A-Za-z0-9_-]*$/.test(text)) throw new Error('not base64url');
  const bin = atob(text.replace(/-/g, '+').replace(/_/g, '/'));
  return Uint8Array.from(bin, (c) => c.charCodeAt(0));
}

// ---- the digit

/** Strokes of whole pad pixels: count, then per stroke its size, point count, first point and zigzag deltas. */
export function encodeStrokes(strokes) {
  const out = [];
  pushVarint(out, strokes.length);
  for (const { size, points } of strokes) {
    pushVarint(out, Math.round(size));
    pushVarint(out, points.length);
    let px = 0, py = 0;
    points.forEach(([x, y], k) => {
      const qx = Math.min(PAD - 1, Math.max(0, Math.round(x))), qy = Math.min(PAD - 1, Math.max(0, Math.round(y)));
      if (k === 0) {
        pushVarint(out, qx);
        pushVarint(out, qy);
      } else {
        pushVarint(out, zigzag(qx - px));
        pushVarint(out, zigzag(qy - py));
      }
      px = qx; py = qy;
    });
  }
  return toBase64url(Uint8Array.from(out));
}

export function decodeStrokes(text) {
  const r = reader(fromBase64url(text));
  const count = r.varint();
  if (count < 1 || count > LIMITS.strokes) throw new Error('stroke count');
  const strokes = [];
  let total = 0;
  for (let s = 0; s < count; s++) {
    const size = r.varint(), n = r.varint();
    total += n;
    if (size < 1 || size > LIMITS.size || n < 1 || total > LIMITS.points) throw new Error('stroke');
    const points = [];
    let x = r.varint(), y = r.varint();
    points.push([x, y]);
    for (let k = 1; k < n; k++) { x += r.signed(); y += r.signed(); points.push([x, y]); }
    if (points.some(([px, py]) => px < 0 || py < 0 || px >= PAD || py >= PAD)) throw new Error('point off the pad');
    strokes.push({ size, points });
  }
  if (!r.done()) throw new Error('trailing bytes');
  return strokes;
}

/** A 28×28 uint8 image: a zero is followed by its run length (1-255); any other byte stands for itself. */
export function encodeImage(bytes) {
  const out = [];
  for (let i = 0; i < bytes.length;) {
    if (bytes[i] !== 0) { out.push(bytes[i++]); continue; }
    let run = 0;
    while (i < bytes.length && bytes[i] === 0 && run < 255) { run++; i++; }
    out.push(0, run);
  }
  return toBase64url(Uint8Array.from(out));
}

export function decodeImage(text) {
  const packed = fromBase64url(text);
  const out = new Uint8Array(784); // zeros: a run only moves on
  let n = 0;
  for (let i = 0; i < packed.length; i++) {
    if (packed[i] !== 0) {
      if (n >= 784) throw new Error('image size');
      out[n++] = packed[i];
      continue;
    }
    const run = packed[++i];
    if (run === undefined || run === 0 || n + run > 784) throw new Error('image size');
    n += run;
  }
  if (n !== 784) throw new Error('image size');
  return out;
}

// ---- the view

const idx = (list) => list.join('-');
const intList = (text) => {
  if (!/^\d{1,4}(-\d{1,4}){0,3}$/.test(text)) throw new Error('index');
  return text.split('-').map(Number);
};
const whole = (text, max) => {
  if (!/^\d{1,4}$/.test(text) || Number(text) > max) throw new Error('number');
  return Number(text);
};
const positive = (text) => {
  const v = Number(text);
  if (!/^[0-9.e+-]{1,24}$/i.test(text) || !Number.isFinite(v) || v < 0) throw new Error('number');
  return v;
};

/** A view as a link's fragment (without '#'). @param {import('../view.js').View} v  @returns {string} */
export function encodeView(v) {
  const f = [['v', String(FORMAT)]];
  const d = v.digit;
  if (d && 'sample' in d) f.push(['d', `s${d.sample}`]);
  else if (d && 'strokes' in d && d.strokes.length) f.push(['d', `k${encodeStrokes(d.strokes)}`]);
  else if (d && 'image' in d) f.push(['d', `i${encodeImage(d.image)}`]);
  if (v.target !== undefined && v.target !== null) f.push(['t', String(v.target)]);
  if (v.loss) f.push(['l', Object.keys(LOSSES).find((k) => LOSSES[k] === v.loss) ?? 'ce']);
  if (v.revealed) {
    f.push(['r', String(v.revealed)]);
    if (v.cursor !== undefined && v.cursor !== null) f.push(['c', String(v.cursor)]);
    if (v.selection) f.push(['x', `${v.selection.layer}.${v.selection.part}.${idx(v.selection.idx)}`]);
  }
  if (v.neuron) f.push(['n', `${v.neuron.layer}.${idx(v.neuron.idx)}`]);
  if (v.lr !== undefined) f.push(['lr', String(v.lr)]);
  if (v.momentum !== undefined) f.push(['mu', String(v.momentum)]);
  if (v.model) f.push(['m', `${v.model.kind}.${v.model.params}`]);
  if (v.lesson) f.push(['L', `${v.lesson.id}.${v.lesson.card}`]);
  return f.map(([k, val]) => `${k}=${val}`).join('&');
}

/** The fields that parse, by key: each reader throws on a value it cannot take. */
const READERS = {
  d(text) {
    if (/^s\d{1,2}$/.test(text)) return { digit: { sample: Number(text.slice(1)) } };
    if (text[0] === 'k') return { digit: { strokes: decodeStrokes(text.slice(1)) } };
    if (text[0] === 'i') return { digit: { image: decodeImage(text.slice(1)) } };
    throw new Error('digit');
  },
  t: (text) => ({ target: whole(text, 999) }),
  l(text) {
    if (!(text in LOSSES)) throw new Error('loss');
    return { loss: LOSSES[text] };
  },
  r: (text) => ({ revealed: whole(text, 999) }),
  c: (text) => ({ cursor: whole(text, 999) }),
  x(text) {
    const [layer, part, at, ...rest] = text.split('.');
    if (rest.length || !PARTS.has(part)) throw new Error('cell');
    return { selection: { layer: whole(layer, 999), part, idx: intList(at) } };
  },
  n(text) {
    const [layer, at, ...rest] = text.split('.');
    if (rest.length) throw new Error('neuron');
    return { neuron: { layer: whole(layer, 999), idx: intList(at) } };
  },
  lr(text) {
    const v = positive(text);
    if (v === 0) throw new Error('lr');
    return { lr: v };
  },
  mu(text) {
    const v = positive(text);
    if (v >= 1) throw new Error('momentum');
    return { momentum: v };
  },
  m(text) {
    const [kind, params, ...rest] = text.split('.');
    if (rest.length || !MODELS.has(kind) || !/^\d{1,12}$/.test(params)) throw new Error('model');
    return { model: { kind, params: Number(params) } };
  },
  L(text) {
    const cut = text.lastIndexOf('.');
    const id = text.slice(0, cut), card = text.slice(cut + 1);
    if (cut < 1 || !LESSON_ID.test(id)) throw new Error('lesson');
    return { lesson: { id, card: whole(card, 999) } };
  },
};

/**
 * A link's fragment as a view. Not a view link (no `v=`, e.g. '#controls'): null. Another format version: no view,
 * and why. Otherwise the fields that parse, and the names of those that did not.
 * @param {string} fragment  location.hash, with or without '#'
 * @returns {null | {view: import('../view.js').View | null, damaged: string[], version: number | null}}
 */
export function decodeView(fragment) {
  const text = fragment.replace(/^#/, '');
  if (!/^v=/.test(text)) return null;
  if (text.length > LIMITS.chars) return { view: null, damaged: ['everything (the link is far too long)'], version: null };
  const pairs = text.split('&').map((p) => {
    const cut = p.indexOf('=');
    return cut < 0 ? [p, ''] : [p.slice(0, cut), p.slice(cut + 1)];
  });
  const version = Number(pairs[0][1]);
  if (version !== FORMAT) {
    return { view: null, damaged: [], version: Number.isInteger(version) && version > 0 ? version : null };
  }
  const view = {};
  const damaged = [];
  for (const [key, value] of pairs.slice(1)) {
    const read = Object.hasOwn(READERS, key) ? READERS[key] : null;
    if (!read) continue; // a field this version does not know: a later minor addition, harmless to leave out
    try {
      Object.assign(view, read(decodeURIComponent(value)));
    } catch {
      damaged.push(FIELD_NAMES[key]);
    }
  }
  return { view, damaged, version };
}
