// The explanation of the current backward step: the rule the layer applies, in the seeds' notation, and the numbers
// for one selected cell (click any cell of a backward map; by default the one with the largest |δ|).

import { convInputGrad, convWeightGrad, denseInputGrad, mapSum } from '../lib/backprop.js';
import { h, replace } from '../lib/dom.js';
import { at as atIndex, ravel, unravel } from '../lib/tensor.js';
import { at, eq, formula, num, sumLine } from '../lib/numbers.js';
import { reachedLayer } from '../state.js';

// Each formula names the method in words a learner can look up, never this project's files or source documents.
const CONV_BACKWARD = 'look up: backpropagation through a convolutional layer (full convolution with the kernel rotated 180°)';

/** @param {HTMLElement} root */
export function createExplainView(root) {
  const body = h('div', { class: 'explain-body', 'aria-live': 'polite' });
  root.append(body);
  let lastRefs = [];

  function intro(s) {
    if (!s.forward) return [h('p', {}, 'Draw a digit, then press ', h('b', {}, 'Backward one layer'), '.')];
    return [
      h('p', {}, 'Backpropagation starts at the loss E and moves one layer at a time towards the input. Each layer '
        + 'receives the gradient of E with respect to its output and passes the gradient with respect to its input '
        + 'down.'),
      formula('δ = ∂E/∂net: the sensitivity map of a layer’s weighted input net', 'look up: backpropagation, the error term (sensitivity) δ'),
      h('p', {}, 'Press ', h('b', {}, 'Backward one layer'), ' (or →) to take the first step.'),
    ];
  }

  function lastLayer(s, L, p, k) {
    const f = s.forward, b = s.backward;
    const t = b.target;
    const nodes = [];
    if (b.lossName === 'mse') {
      nodes.push(formula('E = ½ Σₖ (tₖ − yₖ)² on the raw outputs y = net;  δₖ = ∂E/∂netₖ = yₖ − tₖ', 'look up: mean squared error, its gradient'));
      const y = f.layers[L.index].data[k];
      nodes.push(eq(`class ${k}:`, `y${sub(k)} =`, num(y, { testid: 'explain-p' }), `, t${sub(k)} =`,
        num(k === t ? 1 : 0, { testid: 'explain-y' })));
      nodes.push(eq(`δ${sub(k)} = y − t =`, num(p.delta.data[k], { testid: 'explain-delta', cls: 'strong' })));
    } else {
      nodes.push(formula('p = softmax(net), E = −Σₖ yₖ ln pₖ;  δₖ = ∂E/∂netₖ = pₖ − yₖ (y: 1 for the target, '
        + 'else 0)', 'look up: softmax with cross-entropy loss, its gradient'));
      nodes.push(eq(`class ${k}:`, `p${sub(k)} =`, num(f.probabilities[k], { testid: 'explain-p' }), `, y${sub(k)} =`,
        num(k === t ? 1 : 0, { testid: 'explain-y' })));
      nodes.push(eq(`δ${sub(k)} = p${sub(k)} − y${sub(k)} =`, num(p.delta.data[k], { testid: 'explain-delta',
        cls: 'strong' })));
    }
    nodes.push(h('p', { class: 'hint' }, `Target ${t}. Click another class in the δ strip to see its numbers.`));
    return nodes;
  }

  function dense(s, L, p, sel) {
    const i = L.index;
    const x = i === 0 ? s.forward.input : s.forward.layers[i - 1];
    const W = s.params[L.name]?.W;
    const nodes = [formula('passed down: ∂E/∂x = Wᵀδ;  ∂E/∂W = δ·xᵀ;  ∂E/∂b = δ', 'look up: backpropagation through a fully connected (dense) layer')];
    if (sel.part === 'down') {
      const [k] = sel.idx;
      nodes.push(h('p', {}, `What input ${k} (from the layer below) receives: the sum over this layer’s units.`));
      if (!W) return [...nodes, h('p', { class: 'hint' }, 'loading the weights…')];
      const g = denseInputGrad(p.delta, W, k);
      nodes.push(sumLine(g.terms, (t) => [num(t.w, { digits: 4 }), '·', num(t.delta, { digits: 4 })], g.count, g.sum,
        'explain-sum'));
      return nodes;
    }
    const [j, col] = sel.part === 'dW' ? sel.idx : [sel.idx[0], null];
    const dj = p.delta.data[j];
    nodes.push(eq(`unit ${j}:`, `δ${sub(j)} =`, num(dj, { testid: 'explain-delta', cls: 'strong' }), '= ∂E/∂b' + sub(j)));
    if (col !== null) {
      nodes.push(eq(`∂E/∂W${sub(j)},${sub(col)} = δ${sub(j)} · x${sub(col)} =`, num(dj, { digits: 5 }), '·',
        num(x.data[col], { digits: 5 }), '=', num(dj * x.data[col], { testid: 'explain-sum', cls: 'strong' })));
    } else {
      const order = Array.from(x.data.keys()).sort((a, b2) => Math.abs(x.data[b2]) - Math.abs(x.data[a])).slice(0, 3);
      nodes.push(h('p', {}, `Row ${j} of ∂E/∂W is δ${sub(j)} times every input xᵢ; the largest:`));
      for (const c of order) {
        nodes.push(eq(`∂E/∂W${sub(j)},${sub(c)} =`, num(dj, { digits: 5 }), '·', num(x.data[c], { digits: 5 }), '=',
          num(dj * x.data[c])));
      }
    }
    return nodes;
  }

  function relu(s, L, p, sel) {
    const idx = sel.idx;
    const net = s.forward.layers[L.index - 1];
    const k = ravel(idx, p.delta.shape.length === idx.length ? p.delta.shape : [p.delta.data.length]);
    const dout = p.delta.data[k], n = net.data[k], fp = n > 0 ? 1 : 0;
    return [
      formula('δ = ∂E/∂out ⊙ f′(net), with f′(net) = 1 where net > 0, else 0', 'look up: the derivative of ReLU'),
      h('p', {}, `Cell ${at(idx)}:`),
      eq('∂E/∂out =', num(dout, { testid: 'explain-dout' })),
      eq('net =', num(n, { testid: 'explain-net' }), '→ f′(net) =', num(fp, { testid: 'explain-fprime' })),
      eq('δ = ∂E/∂out · f′(net) =', num(dout * fp, { testid: 'explain-delta', cls: 'strong' })),
      h('p', { class: 'hint' }, fp ? 'The unit was active: the error passes through unchanged.'
        : 'The unit was off (net ≤ 0): no error passes, whatever arrives.'),
    ];
  }

  function pool(s, L, p, sel) {
    const x = s.forward.layers[L.index - 1];
    const [C, H, W] = x.shape;
    const K = L.size, S = L.stride;
    let [c, oi, oj] = sel.idx;
    const nodes = [formula('each output is the max of its window; its error goes to that one input cell, the others '
      + 'get 0', 'look up: max pooling, backward pass (gradient routing)')];
    if (sel.part === 'down') {
      const [, r, q] = sel.idx;
      oi = Math.floor(r / S);
      oj = Math.floor(q / S);
      const o = (c * p.delta.shape[1] + oi) * p.delta.shape[2] + oj;
      const win = [p.routing.data[2 * o], p.routing.data[2 * o + 1]];
      const isMax = win[0] === r && win[1] === q;
      nodes.push(h('p', {}, `Input cell ${at([c, r, q])} = `, num(x.data[(c * H + r) * W + q]), ' lies in window ',
        at([c, oi, oj]), isMax ? ' and was its maximum: it gets the window’s error '
          : ' but was not its maximum: it gets 0. ', isMax ? num(p.delta.data[o], { testid: 'explain-delta',
          cls: 'strong' }) : num(0, { testid: 'explain-delta' })));
      return nodes;
    }
    const o = (c * p.delta.shape[1] + oi) * p.delta.shape[2] + oj;
    const [wr, wc] = [p.routing.data[2 * o], p.routing.data[2 * o + 1]];
    const cells = [];
    for (let u = 0; u < K; u++) {
      const row = [];
      for (let v = 0; v < K; v++) {
        const r = oi * S + u, q = oj * S + v;
        row.push(h('td', { class: r === wr && q === wc ? 'winner' : '' }, num(x.data[(c * H + r) * W + q], { digits: 4 })));
      }
      cells.push(h('tr', {}, ...row));
    }
    nodes.push(h('p', {}, `Output ${at([c, oi, oj])} took the max of this window of map ${c}:`),
      h('table', { class: 'mini-grid' }, h('tbody', {}, ...cells)),
      eq('∂E/∂out =', num(p.delta.data[o], { testid: 'explain-delta', cls: 'strong' }), `→ goes to input ${at([c, wr,
        wc])}, the other ${K * K - 1} cells get 0`));
    return nodes;
  }

  function flatten(s, L, p, sel) {
    const inShape = s.model.layers[L.index - 1].output_shape;
    const k = sel.part === 'down' ? ravel(sel.idx, inShape) : sel.idx[0];
    const idx = unravel(k, inShape);
    return [formula('only a reshape: ∂E/∂in[c, i, j] = ∂E/∂out[c·H·W + i·W + j]'),
      eq(`∂E/∂out${sub(k)} → ∂E/∂in${at(idx)} =`, num(p.delta.data[k], { testid: 'explain-delta', cls: 'strong' }))];
  }

  function conv(s, L, p, sel) {
    const i = L.index;
    const x = i === 0 ? { shape: s.model.input_shape, data: s.forward.input.data } : s.forward.layers[i - 1];
    const W = s.params[L.name]?.W;
    const P = L.padding, S = L.stride;
    const nodes = [formula(`δ below = δ ⋆ rot180(W) (zero-padded, full convolution); ∂E/∂W = x ⋆ δ; ∂E/∂b = Σ δ`,
      CONV_BACKWARD)];
    if (sel.part === 'dW') {
      const [f, c, u, v] = sel.idx;
      const g = convWeightGrad(x, p.delta, f, c, u, v, S, P);
      nodes.push(h('p', {}, `∂E/∂W${at(sel.idx)} = Σᵢⱼ x[${c}, i+${u}−${P}, j+${v}−${P}] · δ[${f}, i, j]:`),
        sumLine(g.terms, (t) => [num(t.x, { digits: 4 }), '·', num(t.delta, { digits: 4 })], g.count, g.sum,
          'explain-sum'),
        eq('the server’s ∂E/∂W =', num(atIndex(p.grads.W, sel.idx), { testid: 'explain-server' })));
      return nodes;
    }
    if (sel.part === 'db') {
      const [f] = sel.idx;
      return [...nodes, eq(`∂E/∂b${sub(f)} = Σ δ over map ${f} =`, num(mapSum(p.delta, f), { testid: 'explain-sum',
        cls: 'strong' })), eq('the server’s ∂E/∂b =', num(p.grads.b.data[f], { testid: 'explain-server' }))];
    }
    if (sel.part === 'down') {
      const [c, y, xx] = sel.idx;
      nodes.push(h('p', {}, i === 0 ? `Saliency of input pixel (${y}, ${xx}): how E changes with it.`
        : `∂E/∂x${at(sel.idx)}: every δ whose window covers this cell, times the weight that linked them:`));
      if (!W) return [...nodes, h('p', { class: 'hint' }, 'loading the weights…')];
      const g = convInputGrad(p.delta, W, c, y, xx, S, P);
      nodes.push(sumLine(g.terms, (t) => [num(t.w, { digits: 4 }), '·', num(t.delta, { digits: 4 })], g.count, g.sum,
        'explain-sum'));
      return nodes;
    }
    const [f, y, xx] = sel.idx;
    const relu = reachedLayer(s.backward, i + 1);
    const net = s.forward.layers[i].data[ravel(sel.idx, p.delta.shape)];
    nodes.push(eq(`δ${at(sel.idx)} =`, num(atIndex(p.delta, sel.idx), { testid: 'explain-delta', cls: 'strong' })));
    if (relu && s.model.layers[i + 1].kind === 'ReLU') {
      const dout = atIndex(relu.delta, sel.idx);
      nodes.push(eq('= ∂E/∂out · f′(net) =', num(dout, { digits: 5 }), '·', num(net > 0 ? 1 : 0), '(net =',
        num(net, { digits: 5 }), ')'));
    }
    nodes.push(eq(`∂E/∂b${sub(f)} = Σ δ over map ${f} =`, num(mapSum(p.delta, f))),
      h('p', { class: 'hint' }, `Click a cell of ∂E/∂W for its sum, or of the map below for what cell (${y}, ${xx}) `
        + 'passes down. The neuron inspector shows this cell’s forward sum.'));
    return nodes;
  }

  return {
    /** @param {import('../state.js').State} s */
    update(s) {
      const b = s.backward;
      const idx = s.cursor;
      const p = idx !== null ? reachedLayer(b, idx) : null;
      const sel = s.selection && s.selection.layer === idx ? s.selection : null;
      const refs = [s.forward, p, sel?.part, sel?.idx.join(), p && s.params[p.name], b.target, b.lossName];
      if (refs.length === lastRefs.length && refs.every((r, k) => r === lastRefs[k])) return;
      lastRefs = refs;
      if (!p || !s.forward) { replace(body, ...intro(s)); return; }
      const L = s.model.layers[idx];
      const head = h('p', { class: 'explain-head' }, h('b', {}, `Layer ${idx}: ${L.name}`), ` (${L.kind}) · `,
        p.delta_of === 'net' ? 'its δ = ∂E/∂net' : 'its ∂E/∂out');
      const choice = sel || { layer: idx, part: 'delta', idx: [0] };
      let nodes;
      if (idx === s.model.layers.length - 1 && L.kind === 'Dense' && choice.part === 'delta') {
        nodes = lastLayer(s, L, p, choice.idx[0]);
      } else if (L.kind === 'Dense') nodes = dense(s, L, p, choice);
      else if (L.kind === 'ReLU') nodes = relu(s, L, p, choice);
      else if (L.kind === 'MaxPool2D') nodes = pool(s, L, p, choice);
      else if (L.kind === 'Flatten') nodes = flatten(s, L, p, choice);
      else if (L.kind === 'Conv2D') nodes = conv(s, L, p, choice);
      else nodes = [h('p', {}, L.kind)];
      replace(body, head, ...nodes);
    },
  };
}

/** Subscript digits: 7 → ₇. @param {number} n */
function sub(n) {
  return String(n).replace(/\d/g, (d) => '₀₁₂₃₄₅₆₇₈₉'[d]);
}
