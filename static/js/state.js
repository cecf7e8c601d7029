// The page's one store, as TF Playground's state.ts keeps it: one state object, replaced (never mutated) by set();
// views, actions and the timing marks subscribe and compare what they use. Nothing the page depends on lives
// anywhere else. Selectors at the end derive values from the state; they are computed when asked, never stored.

import { crossEntropy, squaredError } from './lib/backprop.js';
import { initialLab } from './lab/state.js';

/**
 * @typedef {import('./lib/tensor.js').Tensor} Tensor
 *
 * @typedef {object} Forward          what the network read and made of it
 * @property {Tensor} input            the 28×28 input (the page's own for a drawing, the server's for a file)
 * @property {Tensor[]} layers         layers[i] is layer i's output (C, H, W) or (K,)
 * @property {number} prediction
 * @property {number[]} probabilities  (K,)
 * @property {number} version          the pad version this forward read (the timing marks wait on it)
 *
 * @typedef {{kind: 'drawing', steps: Record<string, Tensor>}
 *   | {kind: 'file', file: File, steps: Record<string, Tensor>|null}} Source
 *   where the forward's input came from, to send it again if the server forgets it; the preprocessing steps (a
 *   drawing's are the page's own; a file's come from GET /api/input/steps when asked for)
 *
 * @typedef {object} Backward           one backward pass, fetched whole (POST /api/backward), and how much of it the
 *   walk has revealed: stepping through it is local, only a new target, loss, input or weights asks again
 * @property {'none'|'loading'|'ready'} status  no pass; its request is out; its answer is here
 * @property {number} id                 a new number for every request and every reset, so that an answer arriving
 *   for an older target, loss or input is dropped
 * @property {'step'|'run'} mode         what the learner asked for last: one more layer, or the rest at once
 * @property {number} revealed           layers revealed, counted from the loss (the last layer) towards the input;
 *   while the answer is on its way, how many it reveals when it comes (see reachedCount)
 * @property {number|null} target
 * @property {string} lossName           cross_entropy | mse
 * @property {number|null} loss          the answer's loss
 * @property {object[]} layers           the answer's layers, from the last to the first ([] until it comes): each
 *   {index, name, kind, delta_of, delta, grads, routing, grad_input}
 *
 * @typedef {object} State
 * @property {object} model              GET /api/model: layers (index, name, kind, output_shape, params, config)
 * @property {string|null} trained       the lab's job whose network the session runs (null: the served one)
 * @property {object} lab                the training lab (lab/state.js)
 * @property {{version: number, strokeEnd: number|null, staleBelow: number}} drawing  the pad: its version, the
 *   version at the end of the last stroke (null once another kind of change follows), answers for versions below
 *   staleBelow are dropped (the pad was cleared since they were asked for)
 * @property {Forward|null} forward
 * @property {Source|null} source
 * @property {Backward} backward
 * @property {null | {target: number, lossName: string}} held  the backward the server holds for this forward and
 *   these weights (a gradient check needs one)
 * @property {number|null} cursor         the layer highlighted in the backward walk
 * @property {null | {layer: number, part: string, idx: number[]}} selection  the cell picked in a backward map
 * @property {null | {layer: number, idx: number[]}} neuron   the conv cell in the neuron inspector (f, i, j)
 * @property {number|null} target         the label chosen (null: follow the prediction)
 * @property {Record<string, {W: Tensor, b: Tensor}>} params  current weights by layer name
 * @property {number} paramsFetch          the latest weights request: only its answer is applied
 * @property {null | object} update       the last POST /api/step answer, decoded, with paramsBefore and paramsAfter
 * @property {null|{id: string, data: object, card: number, phase: 'setting'|'ready'|'failed', message: string|null,
 *   result: object|null}} lesson  the lesson card open (lessons/index.js)
 * @property {string|null} error
 * @property {Record<string, boolean>} busy  forward, params, update: a request of that kind is out
 * @property {null | {status: 'off'|'joining'|'connecting'|'online'|'reconnecting', code: string|null,
 *   name: string|null, id: string|null, title: string, pin: null | {image: Uint8Array, name: string,
 *   student: string|null}, pinShown: boolean, lesson: null | {id: string, card: number, title: string},
 *   message: string|null}} [classroom]  class mode on this page (class/student.js), absent until it is set
 */

/** @param {State} initial */
export function createStore(initial) {
  let state = initial;
  const subscribers = new Set();
  return {
    /** @returns {State} */
    get: () => state,
    /** Merge `patch` into a new state and tell every subscriber (state, previous). @param {Partial<State>} patch */
    set(patch) {
      const prev = state;
      state = { ...state, ...patch };
      for (const fn of subscribers) fn(state, prev);
    },
    /** @param {(state: State, prev: State) => void} fn  @returns {() => void} unsubscribe */
    subscribe(fn) {
      subscribers.add(fn);
      return () => subscribers.delete(fn);
    },
  };
}

/** The backward state before any pass. */
export const NO_BACKWARD = Object.freeze({ status: 'none', id: 0, mode: 'step', revealed: 0, target: null,
  lossName: 'cross_entropy', loss: null, layers: Object.freeze([]) });

/**
 * No pass, the loss kept: what follows a new forward, a step or a reset, whose numbers the pass no longer fits. A new
 * id, so that an answer still on its way is dropped. @param {Backward} b  @returns {Backward}
 */
export function noBackward(b) {
  return { ...NO_BACKWARD, id: b.id + 1, lossName: b.lossName };
}

/** The page before anything happened. @param {object} model GET /api/model @returns {State} */
export function initialState(model) {
  return {
    model, trained: null, lab: initialLab(), drawing: { version: 0, strokeEnd: null, staleBelow: 0 }, forward: null,
    source: null,
    backward: NO_BACKWARD, held: null, cursor: null, selection: null, neuron: null, target: null, params: {},
    paramsFetch: 0, update: null, lesson: null, error: null, busy: {},
  };
}

/** The label backward and an update aim at: the one chosen, else the prediction. @param {State} s */
export function targetOf(s) {
  return s.target ?? s.forward?.prediction ?? 0;
}

/** A backward request is out. @param {State} s */
export function passWaiting(s) {
  return s.backward.status === 'loading';
}

/** How many layers the walk shows, counted from the loss: 0 until the answer comes. @param {Backward} b */
export function reachedCount(b) {
  return Math.min(b.revealed, b.layers.length);
}

/**
 * Layer `index`'s backward payload once the walk has revealed it, else undefined.
 * @param {Backward} b  @param {number} index  @returns {object|undefined}
 */
export function reachedLayer(b, index) {
  const pos = b.layers.length - 1 - index; // the answer runs from the last layer to the first
  return pos >= 0 && pos < reachedCount(b) ? b.layers[pos] : undefined;
}

/** All layers of the pass are revealed. @param {Backward} b */
export function passRevealed(b) {
  return b.status === 'ready' && reachedCount(b) === b.layers.length;
}

/** Are the weights in the page? @param {State} s */
export function hasParams(s) {
  return Object.keys(s.params).length > 0;
}

/**
 * The loss for the chosen target: the server's once a pass reports it, else computed from the forward output.
 * @param {State} s  @returns {null | {value: number, formula: string}}
 */
export function lossValue(s) {
  const f = s.forward;
  if (!f) return null;
  const t = targetOf(s);
  const b = s.backward;
  const server = b.loss !== null && b.target === t ? b.loss : null;
  if (b.lossName === 'mse') return { value: server ?? squaredError(f.layers.at(-1).data, t), formula: '½Σ(t − y)²' };
  return { value: server ?? crossEntropy(f.probabilities, t),
    formula: `−ln p${String(t).replace(/\d/g, (d) => '₀₁₂₃₄₅₆₇₈₉'[d])}` };
}
