// What the page shows, as data: capture() reads it from the page, apply() sets the page to it. A shareable link
// (link.js), a lesson card's setup and a teacher's pin are all views; every field is optional, and apply() touches
// only the fields it is given. (Work in progress for issue 15: the interface below is the contract.)

/**
 * @typedef {{size: number, points: number[][]}} Stroke   a pad stroke: brush size and integer points on the 280×280 pad
 * @typedef {{sample: number} | {strokes: Stroke[]} | {image: Uint8Array}} Digit  sample: an index into
 *   static/data/samples.json (its labels are 0…9 in order); strokes: drawn on the pad; image: 28×28 uint8, white ink on
 *   black (MNIST's convention), shown on the pad as it is
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
 * @property {{id: string, card: number}|null} [lesson]  the lesson card open (lessons register this part)
 */

/**
 * @param {{store: object, actions: object, pad: object, update: object}} deps
 * @returns {{capture(): View, apply(view: View): Promise<void>,
 *   register(name: string, part: {capture(): any, apply(value: any): Promise<void>|void}): void}}
 */
export function createPageView(deps) {
  void deps;
  const parts = new Map();
  return {
    capture: () => ({}),
    async apply() {},
    register(name, part) { parts.set(name, part); },
  };
}
