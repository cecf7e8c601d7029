// The neuron inspector: one cell of a convolution's output, computed in front of the learner. Its input patch
// (C × KH × KW, zero padding shown as 0), the kernel, their elementwise products, the sum plus the bias = net (equal
// to the value the layer shows), f(net) from the ReLU after it, and in the backward phase the terms of its δ.

import { convNeuron } from '../lib/backprop.js';
import { colorOf, scaleFor } from '../lib/colors.js';
import { h, replace } from '../lib/dom.js';
import { fmt } from '../lib/format.js';
import { argmax, at as atIndex, ravel } from '../lib/tensor.js';
import { eq, num } from '../lib/numbers.js';
import { reachedCount, reachedLayer } from '../state.js';

/**
 * A KH×KW grid of numbers tinted by value. @param {ArrayLike<number>} values (KH·KW)  @param {Uint8Array} [padded]
 */
function grid(title, values, KH, KW, scale, padded, testid, digits = 2) {
  const rows = [];
  for (let u = 0; u < KH; u++) {
    const cells = [];
    for (let v = 0; v < KW; v++) {
      const k = u * KW + v;
      const x = values[k];
      const isPad = padded && padded[k];
      const { background, color } = isPad ? { background: '', color: '' } : colorOf(scale, x);
      cells.push(h('td', { class: isPad ? 'pad' : '', style: isPad ? '' : `background:${background};color:${color}`,
        title: isPad ? 'zero padding' : String(x), 'data-value': String(x) }, isPad ? '0' : fmt(x, digits)));
    }
    rows.push(h('tr', {}, ...cells));
  }
  return h('figure', { class: 'num-grid' }, h('figcaption', {}, title),
    h('table', { 'data-testid': testid }, h('tbody', {}, ...rows)));
}

/**
 * @param {HTMLElement} root
 * @param {{onNeuron: (n: {layer: number, idx: number[]}) => void}} o
 */
export function createInspectorView(root, { onNeuron }) {
  // The neuron can be picked with these fields too: by keyboard, and exactly.
  const layerSel = h('select', { 'data-testid': 'inspector-layer', 'aria-label': 'Convolution layer' });
  const field = (name, testid) => h('input', { type: 'number', min: '0', step: '1', value: '0', class: 'idx-input',
    'data-testid': testid, 'aria-label': name });
  const fIn = field('Filter', 'inspector-f'), iIn = field('Output row', 'inspector-i');
  const jIn = field('Output column', 'inspector-j');
  const picker = h('form', { class: 'picker field-row', 'aria-label': 'Choose a neuron' },
    layerSel, h('label', {}, 'filter ', fIn), h('label', {}, 'row ', iIn), h('label', {}, 'col ', jIn));
  const body = h('div', { class: 'inspector-body' });
  root.append(picker, body);
  let lastRefs = [];
  let channel = 0;
  let convs = null;
  picker.addEventListener('change', () => {
    const L = convs.find((c) => String(c.index) === layerSel.value);
    const [F, H, W] = L.output_shape;
    const clamp = (el, n) => Math.max(0, Math.min(n - 1, Math.round(Number(el.value) || 0)));
    onNeuron({ layer: L.index, idx: [clamp(fIn, F), clamp(iIn, H), clamp(jIn, W)] });
  });
  picker.addEventListener('submit', (ev) => ev.preventDefault());

  function syncPicker(s, n) {
    if (!convs) {
      convs = s.model.layers.filter((L) => L.kind === 'Conv2D');
      layerSel.replaceChildren(...convs.map((L) => h('option', { value: L.index }, L.name)));
    }
    const L = s.model.layers[n.layer];
    layerSel.value = String(n.layer);
    [fIn, iIn, jIn].forEach((el, k) => {
      el.max = String(L.output_shape[k] - 1);
      el.value = String(n.idx[k]);
    });
  }

  function render(s, n) {
    const L = s.model.layers[n.layer];
    const [f, y, x] = n.idx;
    const i = n.layer;
    const input = i === 0 ? { shape: s.model.input_shape, data: s.forward.input.data } : s.forward.layers[i - 1];
    const wb = s.params[L.name];
    const out = s.forward.layers[i];
    const shown = atIndex(out, n.idx);
    const head = h('p', { class: 'explain-head' }, h('b', {}, `${L.name}, filter ${f}, output (${y}, ${x})`),
      i === 0 ? ' · reads the input image' : ` · reads ${s.model.layers[i - 1].name}`);
    if (!wb) return [head, h('p', { class: 'hint' }, 'loading the weights…')];
    const K = L.kernel_size, C = input.shape[0];
    const r = convNeuron(input, wb.W, wb.b, f, y, x, L.stride, L.padding);
    channel = Math.min(channel, C - 1);
    const sl = (a) => a.subarray ? a.subarray(channel * K * K, (channel + 1) * K * K) : a.slice(channel * K * K);
    const patchScale = scaleFor(r.patch);
    const kernelScale = scaleFor(r.kernel, { signed: true });
    const prodScale = scaleFor(r.products, { signed: true });
    const nodes = [head,
      h('p', { class: 'formula' }, `net = Σ x[c, ${pos(y, L)}, ${pos(x, L, 'v')}] · W[${f}, c, u, v] + b${sub(f)}`,
        h('span', { class: 'source' }, 'summed over channels c and kernel rows u, columns v; look up: convolution, forward pass (cross-correlation)'))];
    if (C > 1) {
      nodes.push(h('div', { class: 'channel-tabs', role: 'group', 'aria-label': 'Input channel' },
        h('span', {}, 'input channel:'), ...Array.from({ length: C }, (_, c) => h('button', {
          type: 'button', class: c === channel ? 'small is-on' : 'small', 'aria-pressed': String(c === channel),
          onclick: () => { channel = c; lastRefs = []; draw(s); } }, String(c)))));
    }
    nodes.push(h('div', { class: 'grids' },
      grid(`x: input patch${C > 1 ? ` (ch. ${channel})` : ''}`, sl(r.patch), K, K, patchScale, sl(r.padded),
        'inspector-patch'),
      h('div', { class: 'grids' }, h('span', { class: 'op' }, '⊙'),
        grid(`W[${f}${C > 1 ? `, ${channel}` : ''}]: kernel`, sl(r.kernel), K, K, kernelScale, null,
          'inspector-kernel'))),
    h('div', { class: 'grids' }, h('span', { class: 'op' }, '='),
      grid('products x·W, elementwise', sl(r.products), K, K, prodScale, null, 'inspector-products', 3)),
    h('p', { class: 'hint' }, 'Cells are rounded: hover one for its exact value.'));
    if (C > 1) {
      nodes.push(h('p', { class: 'partials' }, 'Σ per channel: ', ...r.channelSums.flatMap((v, c) => [
        c ? ' + ' : '', h('span', { class: c === channel ? 'is-on' : '' }, num(v, { digits: 4 }))])));
    }
    const ok = Math.abs(r.net - shown) <= 1e-5 * Math.max(1, Math.abs(shown));
    nodes.push(
      eq('Σ products =', num(r.sum, { testid: 'inspector-sum' })),
      eq(`+ bias b${sub(f)} =`, num(r.bias, { testid: 'inspector-bias' })),
      eq('= net =', num(r.net, { testid: 'inspector-net', cls: 'strong' }), h('span', { class: ok ? 'ok' : 'bad' },
        ok ? '✓' : '≠'), 'the layer shows', num(shown, { testid: 'inspector-output' })),
    );
    const next = s.model.layers[i + 1];
    if (next && next.kind === 'ReLU') {
      const act = atIndex(s.forward.layers[i + 1], n.idx);
      nodes.push(eq('f(net) = max(0, net) =', num(act, { testid: 'inspector-activation', cls: 'strong' }),
        `(${next.name})`));
    }
    const relu = reachedLayer(s.backward, i + 1);
    const delta = reachedLayer(s.backward, i);
    if (relu && next.kind === 'ReLU') {
      const dout = atIndex(relu.delta, n.idx);
      const fp = shown > 0 ? 1 : 0;
      const pool = s.model.layers[i + 2];
      let why = '';
      const pp = reachedLayer(s.backward, i + 2);
      if (pool && pool.kind === 'MaxPool2D' && pp) {
        const oi = Math.floor(y / pool.stride), oj = Math.floor(x / pool.stride);
        const o = ravel([f, oi, oj], pp.delta.shape);
        const won = pp.routing.data[2 * o] === y && pp.routing.data[2 * o + 1] === x;
        why = won ? `it was the max of ${pool.name}’s window (${oi}, ${oj}), so it gets that window’s error`
          : `it was not the max of ${pool.name}’s window (${oi}, ${oj}), so it gets 0`;
      }
      nodes.push(h('h3', { class: 'mini-title' }, 'Backward: its δ'),
        eq('∂E/∂out =', num(dout, { testid: 'inspector-dout' })), why ? h('p', { class: 'hint' }, why) : null,
        eq('× f′(net) =', num(fp, { testid: 'inspector-fprime' }), fp ? '(net > 0)' : '(net ≤ 0)'),
        eq('= δ = ∂E/∂net =', num(dout * fp, { testid: 'inspector-delta', cls: 'strong' }),
          delta ? h('span', { class: 'ok' }, '✓') : null, delta ? 'the δ map shows' : '',
          delta ? num(atIndex(delta.delta, n.idx), { testid: 'inspector-delta-shown' }) : null));
    } else if (s.forward) {
      nodes.push(h('p', { class: 'hint' }, 'Run backward to see the terms of its δ.'));
    }
    return nodes;
  }

  function draw(s) {
    let n = s.neuron;
    picker.hidden = !s.forward;
    if (!s.forward) { replace(body, h('p', {}, 'Draw a digit, then click a cell of conv1’s or conv2’s output.')); return; }
    if (!n) {
      const conv = s.model.layers.find((L) => L.kind === 'Conv2D');
      const out = s.forward.layers[conv.index];
      const k = argmax(out.data);
      const [, H, W] = out.shape;
      n = { layer: conv.index, idx: [Math.floor(k / (H * W)), Math.floor(k / W) % H, k % W] };
    }
    syncPicker(s, n);
    replace(body, ...render(s, n), h('p', { class: 'hint' }, 'Click any cell of a convolution’s output (or its ReLU) '
      + 'to inspect that neuron, or type its position above.'));
  }

  return {
    /** @param {import('../state.js').State} s */
    update(s) {
      const n = s.neuron;
      const L = n ? s.model.layers[n.layer] : null;
      const refs = [s.forward, n, L && s.params[L.name], s.backward.layers, reachedCount(s.backward), s.params];
      if (refs.every((r, k) => r === lastRefs[k])) return;
      lastRefs = refs;
      draw(s);
    },
  };
}

/** "3+u" or "3+u−2": where row u of the kernel reads, with stride S and padding P. */
function pos(i, L, k = 'u') {
  const start = i * L.stride;
  return `${start}+${k}${L.padding ? `−${L.padding}` : ''}`;
}

/** @param {number} n */
function sub(n) {
  return String(n).replace(/\d/g, (d) => '₀₁₂₃₄₅₆₇₈₉'[d]);
}
