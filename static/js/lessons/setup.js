// A card's setup made real: its view (digit, target, loss, how far backward has gone, the cell selected, the neuron
// inspected, lr) through view.apply, which resolves when the page shows it; then what the view does not hold: one
// update step, the training lab on a preset with a layer edited, and the panel the card talks about brought into
// sight. Layers are named in lesson files (conv2) and numbered in the page's view (3): the names are resolved here.

import { argmaxAbs, unravel } from '../lib/tensor.js';

/** The page's sections a card can open, by the name lesson files use. */
const PANELS = { explain: 'explain', inspector: 'inspector', update: 'update', gradcheck: 'gradcheck', lab: 'lab' };

/**
 * Backward layers revealed, counted from the loss: a number, "all", or a layer's name (revealed down to it).
 * @param {number|string} r  @param {{name: string}[]} layers  @returns {number}
 */
export function revealedCount(r, layers) {
  if (typeof r === 'number') return r;
  if (r === 'all') return layers.length;
  const i = layers.findIndex((L) => L.name === r);
  return i < 0 ? 0 : layers.length - i;
}

/**
 * The page's view (view.js) of a setup, its layer names as indices. The selection is left out: it is picked once the
 * pass is here (selectionOf), where "max" can be resolved and a cell of what a layer passes down ("down", in the shape
 * of the layer below) can be picked as the explanation picks it.
 * @param {object} setup  @param {{name: string}[]} layers  @returns {object}
 */
export function viewOf(setup, layers) {
  const index = (name) => layers.findIndex((L) => L.name === name);
  const v = {};
  if (setup.digit) v.digit = { sample: setup.digit.sample };
  if ('target' in setup) v.target = setup.target;
  if (setup.loss) v.loss = setup.loss;
  if (setup.revealed !== undefined) v.revealed = revealedCount(setup.revealed, layers);
  if (setup.cursor) v.cursor = index(setup.cursor);
  if (setup.neuron) v.neuron = { layer: index(setup.neuron.layer), idx: setup.neuron.idx };
  if (setup.lr !== undefined) v.lr = setup.lr;
  if (setup.momentum !== undefined) v.momentum = setup.momentum;
  return v;
}

/**
 * A setup's selection in the pass the page holds ({layer, part, idx}, "max" resolved to the cell of the largest
 * |value|), or null when the pass lacks that map. "down" is what the layer passes to the one below: that layer's δ.
 */
export function selectionOf(sel, s) {
  const index = s.model.layers.findIndex((L) => L.name === sel.layer);
  const L = s.backward.status === 'ready' ? s.backward.layers.find((x) => x.index === index) : null;
  if (!L) return null;
  const part = sel.part ?? 'delta';
  const t = part === 'delta' ? L.delta : part === 'dW' ? L.grads.W : part === 'db' ? L.grads.b
    : s.backward.layers.find((x) => x.index === index - 1)?.delta ?? L.grad_input;
  if (!t) return null;
  const idx = sel.idx === 'max' ? unravel(argmaxAbs(t.data), t.shape) : sel.idx;
  return { layer: index, part, idx };
}

/**
 * Set the page to a card's setup (or to a question's reveal, over it). Resolves when the page shows it, with what it
 * could not show (view.apply's notes).
 * @param {object} setup
 * @param {{store: object, actions: object, view: {apply: (v: object) => Promise<void>},
 *   lab: {actions: object}}} deps
 */
export async function applySetup(setup, { store, actions, view, lab }) {
  const layers = store.get().model.layers;
  // A step is taken from the pretrained weights, so that a card shows the same numbers every time it opens.
  if ((setup.reset || setup.step) && store.get().update) await actions.reset();
  const notes = [...((await view.apply(viewOf(setup, layers)))?.notes ?? [])];
  if (setup.selection) {
    const sel = selectionOf(setup.selection, store.get());
    if (sel) actions.select(sel);
    else notes.push(`The cell of ${setup.selection.layer} this card picks is not in the pass shown.`);
  }
  if (setup.step) {
    const s = store.get();
    await actions.update(setup.lr ?? 0.01, setup.momentum ?? 0);
    if (s.forward && !store.get().update) throw new Error(store.get().error || 'the update step failed');
  }
  if (setup.lab) await openLab(setup.lab, store, lab.actions);
  if (setup.open) bringIntoSight(setup.open, setup, store);
  return notes;
}

/** The lab opened on a preset (its presets fetched first), and one of its layers edited. */
async function openLab({ preset, edit }, store, act) {
  if (!store.get().lab.presets.length) await act.init();
  if (!store.get().lab.open) act.toggle();
  act.preset(preset);
  if (edit) act.field(edit.layer, edit.field, edit.value);
}

/**
 * Scroll the panel a card talks about into sight, and mark it for a moment. "layers": the layer the setup points
 * at (its neuron, its selection, its cursor), else the first.
 */
function bringIntoSight(open, setup, store) {
  let el = PANELS[open] ? document.getElementById(PANELS[open]) : null;
  if (open === 'gradcheck') el = document.querySelector('.card-gradcheck');
  const edited = setup.lab?.edit && document.querySelector(`[data-testid=lab-layer-${setup.lab.edit.layer}]`);
  if (open === 'lab' && edited && window.matchMedia('(max-width: 860px)').matches) el = edited; // the row itself
  if (open === 'layers') {
    const name = setup.cursor ?? setup.neuron?.layer ?? setup.selection?.layer;
    const i = Math.max(0, store.get().model.layers.findIndex((L) => L.name === name));
    el = document.getElementById('layers')?.children[i] ?? null;
  }
  // The side column's cards sit beside the lesson card on a wide screen: they are in sight already.
  if (!el || ((open === 'explain' || open === 'inspector') && !window.matchMedia('(max-width: 860px)').matches)) {
    return;
  }
  if (!window.matchMedia('(max-width: 640px)').matches || !['explain', 'inspector'].includes(open)) {
    // On a phone the sheet (this step, the inspector) would cover what the card points at: it is closed, as its ×
    // closes it (a tap on a cell or a tab opens it again).
    if (window.matchMedia('(max-width: 640px)').matches) document.querySelector('[data-testid=sheet-close]')?.click();
    el.scrollIntoView({ behavior: 'smooth', block: 'start' });
  }
  el.classList.remove('lesson-spot');
  void el.offsetWidth; // restart the highlight's animation
  el.classList.add('lesson-spot');
}
