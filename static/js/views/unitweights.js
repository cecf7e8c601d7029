// A dense layer's weights made readable: the whole matrix W (K units × D inputs), zoomable at whole cells, and one
// unit's D incoming weights reshaped as what they connect to. LeNet-5's dense1 reads flatten1, which read pool2's 16
// maps of 5×5: unit k's row W[k] is those 16 maps, weight for input value. Opened by a button, like the kernels.

import { arrange } from '../lib/arrange.js';
import { h } from '../lib/dom.js';
import { shapeText } from '../lib/format.js';

/**
 * The shape of what a dense layer's inputs are: the maps before a Flatten (C, H, W), else its own input vector (D,).
 * @param {object[]} layers rows of GET /api/model  @param {number} i the dense layer's index  @param {number[]} input
 * @returns {{shape: number[], from: string}}
 */
export function inputMaps(layers, i, input) {
  const prev = layers[i - 1];
  if (prev?.kind === 'Flatten') {
    const shape = i >= 2 ? layers[i - 2].output_shape : input;
    if (shape.length === 3) return { shape, from: i >= 2 ? layers[i - 2].name : 'the input' };
  }
  return { shape: prev ? prev.output_shape : input, from: prev ? prev.name : 'the input' };
}

/**
 * @param {{fwd: HTMLElement, slot: HTMLElement, layer: object, model: object, heatmap: Function}} o
 *   fwd: where the toggle goes; slot: where the explorer opens; heatmap: the panel's createHeatmap(root, opts)
 * @returns {{update: (s: import('../state.js').State) => void}}
 */
export function createUnitWeights({ fwd, slot, layer: L, model, heatmap }) {
  const i = L.index;
  const [K, D] = [L.out_features, L.in_features];
  const maps = inputMaps(model.layers, i, model.input_shape);
  const asMaps = maps.shape.length === 3;
  const what = asMaps ? `the ${maps.shape[0]} maps of ${maps.shape[1]}×${maps.shape[2]} of ${maps.from}`
    : `the ${D} outputs of ${maps.from}`;
  const toggle = h('button', { type: 'button', class: 'quiet small', 'aria-expanded': 'false',
    'data-testid': `weights-${i}` }, 'Explore the weights W');
  const unit = h('input', { type: 'number', min: '0', max: String(K - 1), step: '1', value: '0', class: 'idx-input',
    id: `unit-${i}`, 'data-testid': `unit-${i}` });
  const picker = h('div', { class: 'field-row unit-picker' }, h('label', { for: `unit-${i}` }, 'Unit'), unit,
    h('span', { class: 'hint' }, `of 0…${K - 1}; or click a row of W`));
  const box = h('div', { class: 'kernels unit-weights', hidden: true });
  fwd.append(toggle);
  slot.append(box);
  const matrix = heatmap(box, { title: `W: ${K} units (rows) × ${D} inputs (columns)`, legend: 'W',
    filename: `${String(i).padStart(2, '0')}-${L.name}-W`, wide: true, zoom: true });
  box.append(picker);
  const row = heatmap(box, { title: `Unit 0: its ${D} incoming weights as ${what}`, legend: 'W',
    filename: `${String(i).padStart(2, '0')}-${L.name}-unit-W` });
  row.element.dataset.testid = `unit-weights-${i}`;
  let drawn = [];
  let last = null; // the weights the store holds now
  const picked = () => Math.max(0, Math.min(K - 1, Math.round(Number(unit.value) || 0)));
  function draw(W, force = false) {
    if (box.hidden) return;
    const k = picked();
    if (!force && drawn[0] === W && drawn[1] === k) return;
    const redrawMatrix = force || drawn[0] !== W;
    drawn = [W, k];
    if (!W) { matrix.clear('loading the weights…'); row.clear('loading the weights…'); return; }
    if (redrawMatrix) {
      matrix.update({ values: W.data, signed: true, arrangement: arrange(W.shape, { rowName: 'unit', colName: 'input' }) });
    }
    row.setTitle(`Unit ${k}: its ${D} incoming weights as ${what}`);
    row.update({ values: W.data.subarray(k * D, (k + 1) * D), signed: true, caption: `row ${k} of W, `
      + `reshaped ${D} → ${shapeText(maps.shape)}`,
    arrangement: arrange(maps.shape, asMaps ? {} : { unit: 'input', fold: D > 150 ? 25 : undefined }) });
  }
  toggle.addEventListener('click', () => {
    box.hidden = !box.hidden;
    toggle.setAttribute('aria-expanded', String(!box.hidden));
    toggle.textContent = box.hidden ? 'Explore the weights W' : 'Hide the weights';
    draw(last, true);
  });
  unit.addEventListener('change', () => { unit.value = String(picked()); draw(last); });
  matrix.onCell(([r]) => { unit.value = String(r); draw(last); });

  return {
    update(s) {
      last = s.params[L.name]?.W ?? null;
      draw(last);
    },
  };
}
