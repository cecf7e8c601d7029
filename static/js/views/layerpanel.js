// One layer of the network as a panel: its summary row (type, output shape, parameters), its output for the drawing
// (forward), and, once backpropagation reaches it, what arrives, what it passes down and its weight gradients.

import { arrange } from '../lib/arrange.js';
import { gradientBelow, poolWinners } from '../lib/backprop.js';
import { WINNERS } from '../lib/colors.js';
import { h } from '../lib/dom.js';
import { shapeText, thousands } from '../lib/format.js';
import { tile } from '../lib/mosaic.js';
import { reachedCount, reachedLayer } from '../state.js';
import { createBars } from './bars.js';
import { createHeatmap as heatmap } from './heatmap.js';
import { createUnitWeights } from './unitweights.js';

/** "Conv2D 5×5, 6 filters, stride 1, padding 2" and the like. @param {object} L a row of GET /api/model */
function describe(L, inShape) {
  switch (L.kind) {
    case 'Conv2D': return `${L.kernel_size}×${L.kernel_size} kernels, ${L.out_channels} filters, stride ${L.stride}, `
      + `padding ${L.padding}`;
    case 'MaxPool2D': return `max of each ${L.size}×${L.size} window, stride ${L.stride}`;
    case 'ReLU': return 'f(net) = max(0, net)';
    case 'Flatten': return `${shapeText(inShape)} → ${shapeText(L.output_shape)}, same numbers in a row`;
    case 'Dense': return `${L.in_features} → ${L.out_features}, every input to every unit`;
    default: return L.kind;
  }
}

/** How to lay out a vector of this layer: classes for the last layer, folded rows for long ones. */
function vectorOpts(shape, isLast, labels) {
  if (shape.length !== 1) return {};
  if (isLast) return { unit: 'class', labels };
  return { unit: 'unit', fold: shape[0] > 150 ? 25 : undefined };
}

/**
 * @param {HTMLElement} root
 * @param {{layer: object, model: object, onNeuron: Function, onSelect: Function, onKernels: Function}} o
 */
export function createLayerPanel(root, { layer: L, model, onNeuron, onSelect, onKernels }) {
  const i = L.index;
  const layers = model.layers;
  const isLast = i === layers.length - 1;
  const inShape = i === 0 ? model.input_shape : layers[i - 1].output_shape;
  const below = i === 0 ? 'the input' : `${layers[i - 1].name} (layer ${i - 1})`;
  const above = isLast ? 'the loss' : `${layers[i + 1].name}`;
  const labels = model.class_labels;
  const badge = h('span', { class: 'badge', 'data-testid': `layer-${i}-status` }, 'pending');
  const paramsText = L.params ? `${thousands(L.params)} parameters` : 'no parameters';
  const head = h('header', { class: 'layer-head' },
    h('span', { class: 'layer-index', 'aria-hidden': 'true' }, String(i)),
    h('h3', {}, h('span', { class: 'layer-name' }, L.name), ' ', h('span', { class: 'layer-kind' }, L.kind)),
    h('span', { class: 'layer-desc' }, describe(L, inShape)),
    h('span', { class: 'layer-shape', title: 'output shape' }, `→ ${shapeText(L.output_shape)}`),
    h('span', { class: 'layer-params' }, paramsText), badge);
  const fwd = h('div', { class: 'fwd cards' });
  const kernelsSlot = h('div', { class: 'kernels-slot' });
  const bwd = h('div', { class: 'bwd cards' });
  const section = h('section', { class: 'layer is-pending', 'data-testid': `layer-${i}`, 'data-kind': L.kind,
    'data-backward': 'pending', id: `layer-${i}`, 'aria-label': `Layer ${i}: ${L.name}, ${L.kind}` },
  head, h('div', { class: 'layer-body' },
    h('div', { class: 'col' }, h('h4', { class: 'col-title' }, 'Forward'), fwd),
    h('div', { class: 'col col-bwd' }, h('h4', { class: 'col-title' }, 'Backward'), bwd)), kernelsSlot);
  root.append(section);

  const fname = (what) => `${String(i).padStart(2, '0')}-${L.name}-${what}`;
  const createHeatmap = (el, o) => heatmap(el, { ...o, pngTitle: `layer ${i}, ${L.name}: ${o.title}` });
  const outTitle = {
    Conv2D: `net = W ⋆ x + b: ${L.output_shape[0]} maps, before the ReLU`,
    ReLU: 'out = f(net) = max(0, net)', MaxPool2D: `out = max of each ${L.size}×${L.size} window`,
    Flatten: `${L.output_shape[0]} values in a row (folded 25 to a line)`,
    Dense: isLast ? 'net = W·x + b: the logits, one per class' : 'net = W·x + b',
  }[L.kind] || 'output';
  const outLegend = ['Conv2D', 'Dense'].includes(L.kind) ? 'net' : 'out';
  const fig = {};
  fig.out = createHeatmap(fwd, { title: outTitle, legend: outLegend, filename: fname('output'),
    wide: L.output_shape.length === 1 });
  fig.out.clear('Draw a digit to see this layer’s output.');
  if (L.kind === 'Conv2D') {
    const toggle = h('button', { type: 'button', class: 'quiet small', 'aria-expanded': 'false',
      'data-testid': `kernels-${i}` }, 'Show the kernels W');
    const box = h('div', { class: 'kernels', hidden: true });
    fwd.append(toggle);
    kernelsSlot.append(box);
    fig.kernels = createHeatmap(box, { title: `The kernels W: ${L.out_channels} filters × ${inShape[0]} input `
      + `channel${inShape[0] > 1 ? 's' : ''}, ${L.kernel_size}×${L.kernel_size} each`, legend: 'W',
    filename: fname('kernels') });
    toggle.addEventListener('click', () => {
      box.hidden = !box.hidden;
      toggle.setAttribute('aria-expanded', String(!box.hidden));
      toggle.textContent = box.hidden ? 'Show the kernels W' : 'Hide the kernels';
      if (!box.hidden) onKernels(L.name);
    });
  }
  const unitWeights = L.kind === 'Dense'
    ? createUnitWeights({ fwd, slot: kernelsSlot, layer: L, model, heatmap: createHeatmap }) : null;
  const deltaName = L.kind === 'Conv2D' || L.kind === 'Dense' ? 'δ = ∂E/∂net' : '∂E/∂out';
  const lastDelta = (name) => (name === 'mse' ? 'δ = ∂E/∂net = y − t' : 'δ = ∂E/∂net = p − y');
  fig.delta = createHeatmap(bwd, { title: isLast ? lastDelta('cross_entropy')
    : `${deltaName}${L.kind === 'Conv2D' || L.kind === 'Dense' ? ': the sensitivity map' : ', arriving from ' + above}`,
  legend: L.kind === 'Conv2D' || L.kind === 'Dense' ? 'δ' : '∂E/∂out', filename: fname('delta'),
  wide: L.output_shape.length === 1 });
  const downTitle = {
    ReLU: `δ = ∂E/∂out ⊙ f′(net): the sensitivity map of ${below}`,
    MaxPool2D: `routed to each window’s maximum → ${below}`,
    Flatten: `reshaped to ${shapeText(inShape)} → ${below}`,
    Dense: `∂E/∂x = Wᵀδ, passed down to ${below}`,
    Conv2D: i === 0 ? '∂E/∂input: the saliency map' : `∂E/∂x = δ ⋆ rot180(W) (full convolution) → ${below}`,
  }[L.kind] || `∂E/∂x → ${below}`;
  fig.down = createHeatmap(bwd, { title: downTitle, legend: i === 0 ? '∂E/∂input' : '∂E/∂x', filename: fname('down'),
    wide: inShape.length === 1 });
  if (L.kind === 'Dense' || L.kind === 'Conv2D') {
    fig.dW = createHeatmap(bwd, { title: L.kind === 'Dense' ? `∂E/∂W = δ·xᵀ (${L.out_features}×${L.in_features})`
      : '∂E/∂W = x ⋆ δ (filters across, input channels down)', legend: '∂E/∂W', filename: fname('dW'), wide: true,
    zoom: L.kind === 'Dense' });
    if (L.kind === 'Conv2D') {
      const dbBox = h('div', { class: 'db-box' });
      bwd.append(dbBox);
      fig.db = createBars(dbBox, { title: '∂E/∂b = Σ δ over each map', filename: fname('db'), xTitle: 'filter',
        height: 150 });
      fig.db.onBar((k) => onSelect({ layer: i, part: 'db', idx: [k] }));
    }
  }
  for (const part of ['delta', 'down', 'dW']) if (fig[part]) fig[part].onCell((idx) => onSelect({ layer: i, part, idx }));
  if (L.kind === 'Conv2D') fig.delta.onCell((idx) => onNeuron({ layer: i, idx })); // the inspector shows its δ's terms
  fig.out.onCell((idx) => {
    if (L.kind === 'Conv2D') onNeuron({ layer: i, idx });
    else if (L.kind === 'ReLU' && idx.length === 3 && layers[i - 1].kind === 'Conv2D') onNeuron({ layer: i - 1, idx });
  });
  const pendingBox = h('p', { class: 'placeholder pending-box' });
  bwd.prepend(pendingBox);
  const bwdFigs = ['delta', 'down', 'dW', 'db'].filter((k) => fig[k]).map((k) => fig[k].element);
  function showPending(text) {
    pendingBox.textContent = text;
    pendingBox.hidden = false;
    for (const el of bwdFigs) el.hidden = true;
  }
  showPending('Pending: backpropagation has not reached this layer yet.');

  let last = {};
  function changed(key, ...refs) {
    const prev = last[key];
    if (prev && prev.length === refs.length && prev.every((r, k) => r === refs[k])) return false;
    last[key] = refs;
    return true;
  }

  function updateForward(s) {
    const out = s.forward?.layers[i];
    const n = s.neuron;
    const mark = n && (n.layer === i || (n.layer === i - 1 && L.kind === 'ReLU')) && out?.shape.length === 3
      ? n.idx : undefined;
    if (!changed('out', out, mark?.join())) return;
    if (!out) { fig.out.clear('Draw a digit to see this layer’s output.'); return; }
    fig.out.update({ values: out.data, arrangement: arrange(out.shape, vectorOpts(out.shape, isLast, labels)),
      signed: outLegend === 'net', xlabels: isLast ? labels : undefined, mark });
  }

  function updateKernels(s) {
    const W = s.params[L.name]?.W;
    if (!fig.kernels || !changed('kernels', W)) return;
    if (W) fig.kernels.update({ values: W.data, arrangement: arrange(W.shape), signed: true });
    else fig.kernels.clear('loading the weights…');
  }

  function updateBackward(s) {
    const b = s.backward;
    const p = reachedLayer(b, i);
    const status = !p ? 'pending' : s.cursor === i ? 'current' : 'done';
    section.dataset.backward = status;
    section.classList.toggle('is-pending', status === 'pending');
    section.classList.toggle('is-current', status === 'current');
    badge.textContent = status === 'current' ? 'current step' : status === 'done' ? 'reached' : 'pending';
    if (isLast) fig.delta.setTitle(lastDelta(b.lossName));
    const sel = s.selection && s.selection.layer === i ? s.selection : null;
    const markFor = (part) => (sel && sel.part === part ? sel.idx : undefined);
    const belowPayload = i > 0 ? reachedLayer(b, i - 1) : undefined;
    const weights = s.params[L.name];
    if (!changed('bwd', p, belowPayload, weights, s.forward, sel?.part, sel?.idx.join(), b.lossName,
      p ? 0 : reachedCount(b), p ? 0 : b.status)) return;
    if (!p) {
      const ahead = layers.length - 1 - i - reachedCount(b);
      showPending(!s.forward ? 'Pending: draw a digit first.' : b.status === 'none'
        ? `Pending: press Backward one layer to start at the loss (${ahead + 1} step${ahead ? 's' : ''} to reach `
          + 'this layer).'
        : `Pending: ${ahead + 1} more step${ahead ? 's' : ''} to reach this layer.`);
      return;
    }
    pendingBox.hidden = true;
    for (const el of bwdFigs) el.hidden = false;
    const d = p.delta;
    fig.delta.update({ values: d.data, arrangement: arrange(d.shape, vectorOpts(d.shape, isLast, labels)),
      signed: true, xlabels: isLast ? labels : undefined, mark: markFor('delta'),
      caption: L.kind === 'Dense' ? '∂E/∂b = δ' : undefined });
    const g = s.forward ? gradientBelow(L, p, belowPayload, s.forward, weights, inShape) : null;
    // Without a local rule for this kind (e.g. BatchNorm), the next step's message brings it.
    if (!g) fig.down.clear(L.params ? 'loading the weights…' : 'shown when the next step reaches the layer below');
    else {
      const under = [];
      if (L.kind === 'MaxPool2D') {
        const arr = arrange(inShape);
        const win = poolWinners(p.routing, inShape);
        const gz = g.tensor.data;
        // the routed δ on top, transparent where it is 0, so the winners that got no error still show
        under.push({ type: 'heatmap', z: tile(win.data, arr.grid), zmin: 0, zmax: 1, colorscale: WINNERS,
          showscale: false, hoverinfo: 'skip', hoverongaps: false });
        g.tensor = { shape: inShape, data: Float64Array.from(gz, (v) => (v === 0 ? NaN : v)) };
      }
      fig.down.update({ values: g.tensor.data, arrangement: arrange(inShape, vectorOpts(inShape, false, labels)),
        signed: true, under, mark: markFor('down'),
        caption: (L.kind === 'MaxPool2D' ? 'grey: not a maximum, gets 0; amber: a maximum whose error is 0 · ' : '')
          + (g.source === 'browser' ? 'computed in the page from this layer’s δ' : 'from the server') });
    }
    if (fig.dW) {
      const dW = p.grads.W;
      fig.dW.update({ values: dW.data, signed: true, mark: markFor('dW'),
        arrangement: arrange(dW.shape, { rowName: 'unit', colName: 'input' }),
        caption: dW.outer ? 'sent as the two vectors δ and x' : undefined });
    }
    if (fig.db) {
      const db = p.grads.b;
      fig.db.update({ traces: [{ y: db.data, name: '∂E/∂b', marker: { color: Array.from(db.data, (v) => (v < 0
        ? '#2166ac' : '#b2182b')) } }] });
    }
  }

  return {
    element: section,
    /** @param {import('../state.js').State} s */
    update(s) {
      updateForward(s);
      if (fig.kernels) updateKernels(s);
      if (unitWeights) unitWeights.update(s);
      updateBackward(s);
    },
  };
}
