// What the page shows, as data: capture() reads it from the page, apply() sets the page to it. A shareable link
// (views/share.js), a lesson card's setup and a teacher's pin are all views; every field is optional, and apply()
// touches only the fields it is given: first the parts registered by other modules (the lesson card, which sets the
// page up for itself), then in the order a learner would: the digit (and its forward), the loss and target, the
// backward pass revealed so far, the highlighted layer and cell, the neuron, the update's settings.

import { inputBytes } from './lib/bytes.js';

/**
 * @typedef {{size: number, points: number[][]}} Stroke   a pad stroke: brush size and integer points on the 280×280 pad
 * @typedef {{sample: number} | {strokes: Stroke[]} | {image: Uint8Array}} Digit  sample: an index into
 *   static/data/samples.json (its labels are 0…9 in order); strokes: drawn on the pad; image: 28×28 uint8, white ink on
 *   black (MNIST's convention), sent to the network as its input as it is (a file's input, a teacher's pin)
 *
 * @typedef {object} View
 * @property {Digit} [digit]
 * @property {number|null} [target]          the label backward aims at (null: the prediction)
 * @property {'cross_entropy'|'mse'} [loss]
 * @property {number} [revealed]              backward layers revealed, counted from the loss (0: no pass; a number ≥
 *   the layer count: the whole pass)
 * @property {number|null} [cursor]           the layer highlighted in the walk (default: the last one revealed)
 * @property {{layer: number, part: string, idx: number[]}|null} [selection]  the cell picked in a backward map
 * @property {{layer: number, idx: number[]}|null} [neuron]  the conv cell in the neuron inspector
 * @property {number} [lr]                    the update's learning rate
 * @property {number} [momentum]
 * @property {{kind: 'served'|'trained'|'uploaded', params: number}} [model]  the network the view was made on
 * @property {{id: string, card: number}|null} [lesson]  the lesson card open (lessons register this part)
 */

const WAIT_MS = 20_000; // a forward or a pass that has not come by then is reported, never waited on forever

/**
 * The shape of the map a cell of backward layer `layer` can be picked in: its δ, what it passes down (shaped as the
 * layer below's output, or the input for the first layer), its ∂E/∂W or ∂E/∂b; undefined for another part.
 */
function partShape(layer, part, model) {
  if (part === 'delta') return layer.delta?.shape;
  if (part === 'down') return layer.index > 0 ? model.layers[layer.index - 1].output_shape : layer.grad_input?.shape;
  if (part === 'dW') return layer.grads?.W?.shape;
  if (part === 'db') return layer.grads?.b?.shape;
  return undefined;
}

/** `idx` is a whole-number index inside `shape`. */
function fits(idx, shape) {
  return Array.isArray(idx) && idx.length === shape.length
    && idx.every((v, k) => Number.isInteger(v) && v >= 0 && v < shape[k]);
}

/** The network the session runs, as a view says it. @param {object} s the page's state */
export function modelTag(s) {
  const kind = s.model.source === 'uploaded' ? 'uploaded' : s.trained ? 'trained' : 'served';
  return { kind, params: s.model.total_params };
}

/**
 * @param {{store: ReturnType<import('./state.js').createStore>, actions: object, pad: object,
 *   update: {settings(): {lr: number, momentum: number}, setSettings(v: object): void},
 *   openImage: (bytes: Uint8Array) => Promise<void>}} deps  openImage: a 28×28 image on the pad and through the
 *   network as it is (the lab's test digits use the same path)
 */
export function createPageView({ store, actions, pad, update, openImage }) {
  const parts = new Map();

  /** Resolves with the state once `ready(state)` holds (now or after a change); rejects after WAIT_MS. */
  function until(ready, what) {
    if (ready(store.get())) return Promise.resolve(store.get());
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => { stop(); reject(new Error(`${what} did not come in time`)); }, WAIT_MS);
      const stop = store.subscribe((s) => {
        if (!ready(s)) return;
        clearTimeout(timer);
        stop();
        resolve(s);
      });
    });
  }

  async function showDigit(d) {
    if ('image' in d) {
      await openImage(d.image);
      return;
    }
    if ('sample' in d) pad.loadSample(d.sample);
    else pad.loadStrokes(d.strokes);
    await until((s) => !s.busy.forward, 'the forward pass');
  }

  /** @param {View} v  @returns {string[]} what could not be shown, in plain words */
  function checkAgainstModel(v) {
    const notes = [];
    const here = modelTag(store.get());
    if (v.model && (v.model.kind !== here.kind || v.model.params !== here.params)) {
      const made = { served: 'the pretrained network', trained: 'a network trained in the lab',
        uploaded: 'an uploaded model' }[v.model.kind] ?? 'another network';
      notes.push(`This view was made on ${made}, which this page does not run now: it is shown on `
        + `${here.kind === 'served' ? 'the pretrained network' : 'the network this page runs'} instead.`);
    }
    return notes;
  }

  return {
    /** @returns {View} */
    capture() {
      const s = store.get();
      /** @type {View} */
      const v = { model: modelTag(s) };
      const content = pad.content();
      if (content === 'other') {
        if (s.forward && s.forward.input.data.length === 784) v.digit = { image: inputBytes(s.forward.input) };
      } else if (content) v.digit = content;
      if (s.target !== null) v.target = s.target;
      v.loss = s.backward.lossName;
      const b = s.backward;
      v.revealed = b.status === 'none' ? 0 : Math.min(b.revealed, s.model.layers.length);
      if (v.revealed > 0 && s.cursor !== null) v.cursor = s.cursor;
      if (v.revealed > 0 && s.selection) v.selection = s.selection;
      if (s.neuron) v.neuron = s.neuron;
      Object.assign(v, update.settings());
      for (const [name, part] of parts) {
        const value = part.capture();
        if (value !== null && value !== undefined) v[name] = value;
      }
      return v;
    },

    /**
     * Set the page to `v`, resolving once it shows it. @param {View} v
     * @returns {Promise<{notes: string[]}>} notes: what could not be shown as the view says, in plain words
     */
    async apply(v) {
      const notes = checkAgainstModel(v);
      const layers = () => store.get().model.layers;
      // The parts first: a lesson card sets the page up for itself, and the rest of the view then says where the
      // learner had got to on it (further down the pass, another cell).
      for (const [name, part] of parts) {
        if (name in v) await part.apply(v[name]);
      }
      if (v.digit) await showDigit(v.digit);
      if (v.loss && v.loss !== store.get().backward.lossName) {
        if ((store.get().model.losses ?? ['cross_entropy']).includes(v.loss)) actions.lossName(v.loss);
        else notes.push(`This network does not offer the loss ${v.loss}.`);
      }
      if (v.target !== undefined && v.target !== store.get().target) {
        const classes = store.get().model.class_labels?.length ?? 10;
        if (v.target === null || (Number.isInteger(v.target) && v.target >= 0 && v.target < classes)) {
          actions.target(v.target);
        } else notes.push(`There is no class ${v.target} in this network.`);
      }
      if (v.revealed !== undefined && store.get().forward) {
        actions.revealTo(v.revealed);
        if (v.revealed > 0) {
          const s = await until((st) => st.backward.status !== 'loading', 'the backward pass');
          if (s.backward.status !== 'ready') notes.push('The backward pass could not be computed.');
        }
      }
      const b = store.get().backward;
      if (v.cursor !== undefined && v.cursor !== null && b.status === 'ready') actions.walkTo(v.cursor);
      if (v.selection) {
        const layer = b.layers.find((L) => L.index === v.selection.layer);
        const shape = layer && partShape(layer, v.selection.part, store.get().model);
        if (shape && fits(v.selection.idx, shape)) actions.select(v.selection);
        else notes.push('The cell picked in this view is not part of the pass shown.');
      }
      if (v.neuron !== undefined) {
        const layer = v.neuron && layers()[v.neuron.layer];
        if (v.neuron === null || (layer && layer.kind === 'Conv2D' && fits(v.neuron.idx, layer.output_shape))) {
          actions.neuron(v.neuron);
        } else notes.push('The neuron picked in this view is not in this network.');
      }
      const settings = {};
      if (Number.isFinite(v.lr) && v.lr > 0) settings.lr = v.lr;
      if (Number.isFinite(v.momentum) && v.momentum >= 0 && v.momentum < 1) settings.momentum = v.momentum;
      update.setSettings(settings);
      return { notes };
    },

    /**
     * Another module's part of the view (the lesson card): captured with the rest, applied before it.
     * @param {string} name  @param {{capture(): any, apply(value: any): Promise<void>|void}} part
     */
    register(name, part) { parts.set(name, part); },
  };
}
