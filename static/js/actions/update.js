// Update: the page's copy of the weights (fetched once at the start and after a reset, never after a step), one SGD
// step (the request names the target and the loss; the answer brings each parameter's Δ, the values after for
// small ones, and the forward pass with the new weights), and the reset to the pretrained weights.

import { hasParams, noBackward, targetOf } from '../state.js';
import { forwardOf } from './forward.js';

/**
 * The weights after a step: `after` where the answer gives it, else the current weights + Δ.
 * @param {Record<string, Record<string, import('../lib/tensor.js').Tensor>>} params  by layer name, then W, b
 * @param {object[]} layers  the step answer's layers: {name, params: {W: {delta, after?}, b: {...}}}
 */
export function stepped(params, layers) {
  const out = { ...params };
  for (const L of layers) {
    const next = { ...params[L.name] };
    for (const [key, p] of Object.entries(L.params)) {
      if (p.after) { next[key] = p.after; continue; }
      const cur = params[L.name]?.[key];
      if (!cur) throw new Error(`the page has no weights for ${L.name}.${key} to add the step to: press Reset`);
      const data = new Float64Array(cur.data.length);
      for (let i = 0; i < data.length; i++) data[i] = cur.data[i] + p.delta.data[i];
      next[key] = { shape: cur.shape, data };
    }
    out[L.name] = next;
  }
  return out;
}

/**
 * @param {{api: ReturnType<import('../api.js').createApi>, store: ReturnType<import('../state.js').createStore>,
 *   forward: ReturnType<import('./forward.js').createForwardActions>, modelChanged?: () => Promise<void>}} deps
 */
export function createUpdateActions({ api, store, forward, modelChanged }) {
  // read at each use: the model changes when the learner opens a network trained in the lab
  const names = () => store.get().model.layers.filter((L) => L.params > 0).map((L) => L.name);
  const set = (patch) => store.set(patch);
  const busy = (k, v) => set({ busy: { ...store.get().busy, [k]: v } });

  /** The backward state emptied: after a step or a reset its numbers belong to weights that are gone. */
  function backwardGone() {
    return { backward: noBackward(store.get().backward), held: null, cursor: null, selection: null };
  }

  /** The server's weights of this tab; of overlapping requests only the latest answer is applied. */
  async function loadParams() {
    const id = store.get().paramsFetch + 1;
    set({ paramsFetch: id, busy: { ...store.get().busy, params: true } });
    try {
      const answers = await Promise.all(names().map((n) => api.params(n)));
      if (store.get().paramsFetch !== id) return;
      const params = {};
      answers.forEach((a) => { params[a.layer] = a.params; });
      set({ params, busy: { ...store.get().busy, params: false } });
    } catch (err) {
      if (store.get().paramsFetch !== id) return;
      set({ error: err.message, busy: { ...store.get().busy, params: false } });
    }
  }

  return {
    loadParams,
    async update(lr, momentum) {
      const s = store.get();
      if (!s.forward) { set({ error: 'draw a digit first: an update needs an input and a target' }); return; }
      busy('update', true);
      try {
        if (!hasParams(store.get())) await loadParams(); // the weights each Δ is added to
        const step = { lr, momentum, target: targetOf(s), loss: s.backward.lossName };
        let lost = false;
        const res = await forward.withInput(() => api.step(step), () => { lost = true; });
        // A session the server lost took its weights with it: the step began from the pretrained ones, so the
        // weights after it are fetched as the server holds them. This request is the latest, so an earlier one
        // still on its way (the resent input's) cannot overwrite its answer.
        if (lost) await loadParams();
        const now = store.get();
        const paramsAfter = lost ? now.params : stepped(now.params, res.layers);
        set({
          ...backwardGone(), update: { ...res, paramsBefore: lost ? undefined : now.params, paramsAfter },
          params: paramsAfter,
          forward: now.forward && { ...forwardOf(res.forward, now.forward.input, now.forward.version),
            input_warnings: now.forward.input_warnings }, error: null,
        });
      } catch (err) {
        set({ update: { ...(store.get().update || {}), error: err.message } });
      } finally {
        busy('update', false);
      }
    },
    async reset() {
      set(backwardGone());
      try {
        const r = await api.reset();
        // from a network trained in the lab back to the served one: another architecture, read anew
        const other = store.get().trained || store.get().model.source === 'uploaded';
        if (other && modelChanged) { set({ update: null, error: null }); await modelChanged(); return; }
        const now = store.get();
        set({ update: null, error: null,
          ...(r.forward && now.forward ? { forward: { ...forwardOf(r.forward, now.forward.input, now.forward.version),
            input_warnings: now.forward.input_warnings } }
            : {}) });
        if (!r.forward) await forward.resend(); // the server had lost the input: it answered without a forward
        await loadParams();
      } catch (err) {
        set({ error: err.message });
      }
    },
  };
}
