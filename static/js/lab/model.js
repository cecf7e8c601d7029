// The visualizer follows the architecture the session runs: after "Open in the visualizer", "Back to the pretrained
// model" or a reset from a trained network, GET /api/model is read again and everything computed for the old
// network (forward, backward, weights, the last update) is dropped; the input is sent again, so every view is
// drawn anew for the new layers. Also a test digit opened from the lab's misclassified browser.

import { noBackward } from '../state.js';

/**
 * @param {{api: ReturnType<import('../api.js').createApi>, store: ReturnType<import('../state.js').createStore>,
 *   pad: {showImage: (bytes: Uint8Array) => void, version: number},
 *   applyForward: (r: object, job: {input: object, source: object, version: number}) => void}} deps
 */
export function createModelSwitch({ api, store, pad, applyForward }) {
  /** Send `input` (28, 28) in [0, 1] and apply the answer, as the pad's own drawing would be. */
  async function send(input, source, version) {
    store.set({ busy: { ...store.get().busy, forward: true } });
    try {
      applyForward(await api.forward({ input }), { input, source, version });
    } catch (err) {
      store.set({ error: err.message, busy: { ...store.get().busy, forward: false } });
    }
  }

  return {
    /**
     * Read the session's architecture and show it. @param {string|null} trained  the job whose network the session
     * now runs (null: the served one)
     */
    async adopt(trained) {
      const model = await api.model();
      const s = store.get();
      const f = s.forward;
      store.set({ model, trained, forward: null, params: {}, paramsFetch: s.paramsFetch + 1, update: null,
        backward: noBackward(s.backward), held: null, cursor: null, selection: null, neuron: null, error: null });
      if (f) await send(f.input, s.source, f.version); // its answer brings the weights too (onForward)
    },
    /** A 28×28 uint8 test digit (white on black) on the pad and through the network. @param {Uint8Array} bytes */
    async openDigit(bytes) {
      pad.showImage(bytes);
      const version = pad.version;
      const input = { shape: [28, 28], data: Float32Array.from(bytes, (v) => v / 255) };
      store.set({ drawing: { ...store.get().drawing, version, strokeEnd: null }, target: null });
      await send(input, { kind: 'drawing', steps: {} }, version);
    },
  };
}
