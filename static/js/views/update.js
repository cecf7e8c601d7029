// One step of gradient descent on this drawing: the learning rate and momentum, "Apply update", then per layer with
// weights W before, ΔW and W after (and Δb), the probabilities before and after, and the loss after every step.

import { arrange } from '../lib/arrange.js';
import { scaleFor, sharedScale } from '../lib/colors.js';
import { h, replace } from '../lib/dom.js';
import { fmt, pct } from '../lib/format.js';
import { baseLayout, createPlot } from '../lib/plot.js';
import { createBars } from './bars.js';
import { createHeatmap } from './heatmap.js';

/**
 * @param {HTMLElement} root
 * @param {{onApply: (lr: number, momentum: number) => void, labels: string[]}} o
 */
export function createUpdateView(root, { onApply, labels: initialLabels }) {
  const lr = h('input', { type: 'number', id: 'lr', 'data-testid': 'lr', value: '0.001', min: '0', step: '0.0005',
    inputmode: 'decimal', 'aria-label': 'Learning rate' });
  const momentum = h('input', { type: 'number', id: 'momentum', 'data-testid': 'momentum', value: '0', min: '0',
    max: '0.99', step: '0.1', inputmode: 'decimal', 'aria-label': 'Momentum' });
  const apply = h('button', { type: 'button', class: 'primary', 'data-testid': 'apply-update' }, 'Apply update');
  const message = h('p', { class: 'update-error', role: 'alert', 'data-testid': 'update-error' });
  const summary = h('p', { class: 'update-summary', 'data-testid': 'update-summary' },
    'Run backward (or just apply: it backpropagates first), then take one step w ← w − lr·∂E/∂w on this drawing.');
  root.append(
    h('div', { class: 'field-row' },
      h('label', { for: 'lr' }, 'Learning rate'), lr,
      h('label', { for: 'momentum' }, 'Momentum μ'), momentum, apply),
    h('p', { class: 'formula' }, 'v ← μ·v + ∂E/∂w,  w ← w − lr·v  (μ = 0: plain SGD, Δw = −lr·∂E/∂w)'),
    message, summary);
  const charts = h('div', { class: 'update-charts' });
  const layersBox = h('div', { class: 'update-layers' });
  root.append(charts, layersBox);
  const probsBox = h('div', { class: 'chart-box', 'data-testid': 'update-probs' });
  const lossBox = h('div', { class: 'chart-box' });
  charts.append(probsBox, lossBox);
  const probs = createBars(probsBox, { title: 'Probabilities before and after the step',
    filename: 'update-probabilities', xTitle: 'class', height: 200 });
  const lossEl = h('div', { class: 'plot plot-bars', style: 'height:200px', 'data-testid': 'loss-history' });
  // A log scale shows the loss still falling when it is already near 0 (cross-entropy drops by orders of magnitude).
  const logScale = h('input', { type: 'checkbox', id: 'loss-log', 'data-testid': 'loss-log' });
  lossBox.append(h('figure', { class: 'bars' }, h('figcaption', { class: 'hm-title' }, 'Loss E after each step',
    h('label', { class: 'inline-check', for: 'loss-log' }, logScale, ' log scale')), lossEl));
  const lossPlot = createPlot(lossEl, { filename: 'loss-history', title: 'Loss after each step' });
  charts.hidden = true;

  const perLayer = new Map(); // name -> {before, delta, after, db}
  function layerFigs(name, kind) {
    if (perLayer.has(name)) return perLayer.get(name);
    const box = h('div', { class: 'update-layer' }, h('h3', { class: 'mini-title' }, `${name} (${kind})`));
    const row = h('div', { class: 'triple' });
    box.append(row);
    layersBox.append(box);
    const figs = {
      before: createHeatmap(row, { title: 'W before', legend: 'W', filename: `${name}-W-before` }),
      delta: createHeatmap(row, { title: 'ΔW = −lr·∂E/∂W', legend: 'ΔW', filename: `${name}-W-delta` }),
      after: createHeatmap(row, { title: 'W after = W + ΔW', legend: 'W', filename: `${name}-W-after` }),
      db: createBars(box, { title: 'Δb', filename: `${name}-b-delta`, xTitle: 'unit', height: 140 }),
    };
    perLayer.set(name, figs);
    return figs;
  }

  let history = [];
  let firstLoss = null;
  let last = null;
  let lastLabels = initialLabels;
  logScale.addEventListener('change', () => { if (last && !last.error) paint(last, lastLabels); });

  apply.addEventListener('click', () => {
    const rate = Number(lr.value), mu = Number(momentum.value);
    if (!(rate > 0)) { message.textContent = 'the learning rate must be a number above 0, e.g. 0.001'; return; }
    if (!(mu >= 0 && mu < 1)) { message.textContent = 'momentum must be at least 0 and below 1, e.g. 0.9'; return; }
    message.textContent = '';
    onApply(rate, mu);
  });

  /** @param {object} u  the step's answer  @param {string[]} labels  the classes of the network the session runs */
  function paint(u, labels) {
    lastLabels = labels;
    charts.hidden = false;
    // the server's loss after every step since the reset, and the loss before the first one when this page saw it
    if (u.steps === 1) firstLoss = u.loss_before;
    history = firstLoss !== null ? [firstLoss, ...u.loss_history] : [...u.loss_history];
    const fromStep = firstLoss !== null ? 0 : u.steps - history.length + 1;
    summary.replaceChildren(h('b', {}, `Step ${u.steps}`), ` · loss ${fmt(u.loss_before, 5)} → `,
      h('b', { 'data-testid': 'loss-after', 'data-value': String(u.loss_after) }, fmt(u.loss_after, 5)),
      ` · prediction ${labels[u.prediction_before]} (${pct(u.probabilities_before[u.prediction_before])}) → `,
      h('b', {}, `${labels[u.prediction]} (${pct(u.probabilities[u.prediction])})`));
    probs.update({ labels, yrange: [0, 1.05], showlegend: true, traces: [
      { y: u.probabilities_before, name: 'before', marker: { color: '#9db4d3' } },
      { y: u.probabilities, name: 'after', marker: { color: '#1f4e8c' } }] });
    lossPlot.show({
      data: [{ type: 'scatter', mode: 'lines+markers', x: history.map((_, k) => fromStep + k), y: history,
        line: { color: '#d9480f', width: 3 }, marker: { size: 7 }, hovertemplate: 'after step %{x}: E = %{y:.7~g}'
          + '<extra></extra>' }],
      layout: baseLayout({ margin: { l: 56, r: 8, t: 8, b: 40 }, plot_bgcolor: '#fff',
        xaxis: { title: { text: 'step' }, dtick: history.length > 12 ? undefined : 1, fixedrange: true,
          gridcolor: '#eee' },
        yaxis: logScale.checked
          ? { title: { text: 'E (log scale)' }, type: 'log', exponentformat: 'power', fixedrange: true,
            gridcolor: '#eee' }
          : { title: { text: 'E' }, rangemode: 'tozero', fixedrange: true, gridcolor: '#eee' } }),
    });
    for (const layer of u.layers) {
      const figs = layerFigs(layer.name, layer.kind);
      const W = layer.params.W, b = layer.params.b;
      // before: the page's own weights (the server does not send them again); after: the server's values for small
      // parameters, for larger ones the page's weights + Δ (actions/update.js)
      const before = u.paramsBefore?.[layer.name]?.W;
      const after = W.after || u.paramsAfter?.[layer.name]?.W;
      const delta = W.delta;
      const arr = arrange(W.shape, { rowName: 'unit', colName: 'input' });
      if (before && after) {
        const shared = sharedScale(before.data, after.data);
        figs.before.update({ values: before.data, arrangement: arr, scale: shared });
        figs.after.update({ values: after.data, arrangement: arr, scale: shared,
          caption: W.after ? 'from the server' : 'before + Δ, added in the page' });
      } else {
        figs.before.clear('the weights before the step were not loaded');
        figs.after.clear('the weights before the step were not loaded');
      }
      figs.delta.update({ values: delta.data, arrangement: arr, scale: scaleFor(delta.data, { signed: true }),
        caption: `largest |Δ| ${fmt(W.delta_abs_max, 3)}` });
      figs.db.update({ traces: [{ y: b.delta.data, name: 'Δb', marker: { color: Array.from(b.delta.data,
        (v) => (v < 0 ? '#2166ac' : '#b2182b')) } }] });
    }
  }

  return {
    /** The learning rate and momentum as typed (a link or a lesson card keeps them). */
    settings: () => ({ lr: Number(lr.value), momentum: Number(momentum.value) }),
    /** @param {{lr?: number, momentum?: number}} v */
    setSettings(v) {
      if (v.lr !== undefined) lr.value = String(v.lr);
      if (v.momentum !== undefined) momentum.value = String(v.momentum);
    },
    /** @param {import('../state.js').State} s */
    update(s) {
      apply.disabled = !s.forward || !!s.busy.update || !!s.busy.params;
      apply.textContent = s.busy.update ? 'Applying…' : 'Apply update';
      const u = s.update;
      if (u === last) return;
      last = u;
      if (!u) {
        history = [];
        firstLoss = null;
        charts.hidden = true;
        replace(layersBox);
        perLayer.clear();
        summary.textContent = 'The weights are the pretrained ones. Apply an update to take a step.';
        return;
      }
      if (u.error) { message.textContent = u.error; return; }
      message.textContent = '';
      paint(u, s.model?.class_labels ?? initialLabels);
    },
  };
}
