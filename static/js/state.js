// A small store: one state object, replaced (never mutated) by set(); views subscribe and compare what they use.

/**
 * @typedef {import('./lib/tensor.js').Tensor} Tensor
 * @typedef {object} State
 * @property {object} model                 GET /api/model: layers (index, name, kind, output_shape, params, config)
 * @property {null | {input: Tensor, layers: Tensor[], prediction: number, probabilities: number[]}} forward
 *   layers[i] is layer i's output (C, H, W) or (K,) for this drawing
 * @property {{status: 'none'|'streaming'|'complete', target: number|null, lossName: string, loss: number|null,
 *   layers: Record<number, object>, order: number[]}} backward  layers: payloads by index, order: arrival order
 * @property {number|null} cursor            the layer highlighted in the backward walk
 * @property {null | {layer: number, part: string, idx: number[]}} selection  the cell picked in a backward map
 * @property {null | {layer: number, idx: number[]}} neuron   the conv cell in the neuron inspector (f, i, j)
 * @property {number|null} target           the label chosen (null: follow the prediction)
 * @property {Record<string, {W: Tensor, b: Tensor}>} params   current weights by layer name
 * @property {null | object} update         the last POST /api/step answer, decoded
 * @property {string|null} error
 * @property {Record<string, boolean>} busy
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
export const NO_BACKWARD = Object.freeze({ status: 'none', target: null, lossName: 'cross_entropy', loss: null,
  layers: Object.freeze({}), order: Object.freeze([]) });
