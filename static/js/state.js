// The page's one store, as TF Playground's state.ts keeps it: one state object, replaced (never mutated) by set();
// views, actions and the timing marks subscribe and compare what they use. Nothing the page depends on lives
// anywhere else: the open WebSocket is a resource the api module holds, not state. Selectors at the end derive
// values from the state; they are computed when asked, never stored.

import { crossEntropy, squaredError } from './lib/backprop.js';

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
 * @typedef {object} Backward           the pass over the WebSocket and what it has delivered
 * @property {'none'|'streaming'|'complete'} status
 * @property {number} id                 a new number for every pass
 * @property {'step'|'run'} mode         one layer per request, or all of them
 * @property {number} requested          layers asked for so far (run: all)
 * @property {number|null} target
 * @property {string} lossName           cross_entropy | mse
 * @property {number|null} loss          the server's loss, from the pass's start message
 * @property {Record<number, object>} layers  payloads by layer index
 * @property {number[]} order            layer indices in arrival order
 *
 * @typedef {object} State
 * @property {object} model              GET /api/model: layers (index, name, kind, output_shape, params, config)
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
 * @property {null | object} update       the last POST /api/step answer, decoded, with paramsBefore and paramsAfter
 * @property {string|null} error
 * @property {Record<string, boolean>} busy  forward, params, update: a request of that kind is out
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
export const NO_BACKWARD = Object.freeze({ status: 'none', id: 0, mode: 'step', requested: 0, target: null,
  lossName: 'cross_entropy', loss: null, layers: Object.freeze({}), order: Object.freeze([]) });

/** The page before anything happened. @param {object} model GET /api/model @returns {State} */
export function initialState(model) {
  return {
    model, drawing: { version: 0, strokeEnd: null, staleBelow: 0 }, forward: null, source: null,
    backward: NO_BACKWARD, held: null, cursor: null, selection: null, neuron: null, target: null, params: {},
    update: null, error: null, busy: {},
  };
}

/** The label backward and an update aim at: the one chosen, else the prediction. @param {State} s */
export function targetOf(s) {
  return s.target ?? s.forward?.prediction ?? 0;
}

/** A pass is waiting for a layer it asked for. @param {State} s */
export function passWaiting(s) {
  const b = s.backward;
  return b.status === 'streaming' && b.order.length < b.requested;
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
