// Backward: one POST /api/backward brings the whole pass; "next" reveals one more layer of it, "run" the rest, and
// "prev" walks back over the layers revealed, the highlight and the explained cell following. A new target or loss
// asks again. Also gradient checks of the backward the server holds.

import { noBackward, passRevealed, reachedCount, reachedLayer, targetOf } from '../state.js';
import { argmaxAbs, unravel } from '../lib/tensor.js';

/** The cell to explain when a layer is revealed: its largest |δ|, or the target class for the last layer. */
function defaultSelection(layer, target, last) {
  if (layer.index === last) return { layer: layer.index, part: 'delta', idx: [target] };
  return { layer: layer.index, part: 'delta', idx: unravel(argmaxAbs(layer.delta.data), layer.delta.shape) };
}

/**
 * @param {{api: ReturnType<import('../api.js').createApi>, store: ReturnType<import('../state.js').createStore>,
 *   forward: ReturnType<import('./forward.js').createForwardActions>, scrollTo: (index: number) => void}} deps
 */
export function createBackwardActions({ api, store, forward, scrollTo }) {
  // read at each use: the model changes when the learner opens a network trained in the lab
  const lastIndex = () => store.get().model.layers.length - 1;
  const total = () => lastIndex() + 1;
  const set = (patch) => store.set(patch);

  /** The highlight on the layer at walk position `pos` (0: the last layer), its default cell selected. */
  function focus(b, pos) {
    const layer = b.layers[pos];
    return { cursor: layer.index, selection: defaultSelection(layer, b.target, lastIndex()) };
  }

  /** Reveal the pass up to `revealed` layers, the highlight on the furthest. */
  function reveal(revealed, mode) {
    const b = { ...store.get().backward, revealed, mode };
    set({ backward: b, ...focus(b, reachedCount(b) - 1) });
    if (mode === 'step') scrollTo(store.get().cursor);
  }

  /**
   * Ask the server for the pass of the current target and loss, revealing `revealed` layers when it comes. An
   * answer is applied only if no other request or reset came after it; a server that lost the input (409
   * no_forward_yet or session_expired) gets it again, and the pass is asked once more.
   */
  async function fetchPass(revealed, mode, retried = false) {
    const s = store.get();
    const target = targetOf(s), lossName = s.backward.lossName;
    const asking = { ...noBackward(s.backward), status: 'loading', mode, revealed, target, lossName };
    const id = asking.id;
    set({ backward: asking, cursor: null, selection: null, error: null });
    const current = () => store.get().backward.id === id;
    let r;
    try {
      r = await api.backward(target, lossName);
    } catch (err) {
      if (!current()) return;
      let error = err;
      if (forward.inputGone(err) && !retried) {
        const asked = store.get().backward; // what the learner asked for meanwhile, which the resend empties
        try {
          if (await forward.resend()) {
            // ask again, unless another pass started while the input travelled
            if (store.get().backward.status === 'none') fetchPass(asked.revealed, asked.mode, true);
            return;
          }
        } catch (e) {
          error = e;
        }
        if (!current()) return;
      }
      set({ error: error.message, backward: { ...store.get().backward, status: 'none' } });
      return;
    }
    if (!current()) return;
    const b = store.get().backward; // revealed and mode may have grown while the answer was on its way
    const ready = { ...b, status: 'ready', target: r.target, lossName: r.loss_name, loss: r.loss, layers: r.layers };
    set({ backward: ready, held: { target: r.target, lossName: r.loss_name },
      ...focus(ready, reachedCount(ready) - 1) });
    if (ready.mode === 'step') scrollTo(store.get().cursor);
  }

  function moveTo(pos) {
    set(focus(store.get().backward, pos));
    scrollTo(store.get().cursor);
  }

  /** The pass again for a new target or loss: as far revealed as the old one if it was whole, else its first layer. */
  function refetch(b) {
    if (b.status === 'none') set({ backward: noBackward(b), cursor: null, selection: null });
    else if (b.revealed >= total()) fetchPass(total(), 'run');
    else fetchPass(1, 'step');
  }

  return {
    /** One layer further: reviewed if already revealed, else revealed; the first asks the server for the pass. */
    next() {
      const s = store.get();
      if (!s.forward) return;
      const b = s.backward;
      if (b.status === 'none') fetchPass(1, 'step');
      else if (b.status === 'loading') {
        if (b.revealed < total()) set({ backward: { ...b, revealed: b.revealed + 1, mode: 'step' } });
      } else {
        const pos = b.layers.findIndex((L) => L.index === s.cursor);
        if (pos >= 0 && pos < reachedCount(b) - 1) moveTo(pos + 1);
        else if (b.revealed < total()) reveal(b.revealed + 1, 'step');
      }
    },
    /**
     * The pass revealed to exactly `n` layers from the loss (0: none; ≥ the layer count: all), the highlight on the
     * furthest; asked of the server if there is none. What a link or a lesson card sets.
     */
    revealTo(n) {
      const s = store.get();
      if (!s.forward) return;
      const b = s.backward;
      const want = Math.min(Math.max(0, Math.floor(n)), total());
      const mode = want === total() ? 'run' : 'step';
      if (want === 0) set({ backward: noBackward(b), cursor: null, selection: null });
      else if (b.status === 'none') fetchPass(want, mode);
      else if (b.status === 'loading') set({ backward: { ...b, revealed: want, mode } });
      else reveal(want, mode);
    },
    /** The highlight on revealed layer `index` (by the layer's index), its default cell selected. */
    walkTo(index) {
      const b = store.get().backward;
      const pos = b.layers.findIndex((L) => L.index === index);
      if (b.status === 'ready' && pos >= 0 && pos < reachedCount(b)) moveTo(pos);
    },
    prev() {
      const s = store.get();
      const pos = s.backward.layers.findIndex((L) => L.index === s.cursor);
      if (pos > 0 && s.backward.status === 'ready') moveTo(pos - 1);
    },
    /** Every remaining layer: the rest of the pass, or a new one; a pass already revealed is only walked to its end. */
    run() {
      const s = store.get();
      if (!s.forward) return;
      const b = s.backward;
      if (b.status === 'none') fetchPass(total(), 'run');
      else if (b.status === 'loading') set({ backward: { ...b, revealed: total(), mode: 'run' } });
      else if (!passRevealed(b)) reveal(total(), 'run');
      else if (s.cursor !== b.layers.at(-1).index) moveTo(b.layers.length - 1);
    },
    target(t) {
      set({ target: t });
      refetch(store.get().backward);
    },
    lossName(name) {
      const b = store.get().backward;
      set({ backward: { ...b, lossName: name, loss: null } });
      refetch(store.get().backward);
    },
    select: (selection) => set({ selection,
      cursor: reachedLayer(store.get().backward, selection.layer) ? selection.layer : store.get().cursor }),
    /** Backward's gradient for `param` against finite differences, on the server's backward for this target. */
    async gradcheck(param, samples) {
      const s = store.get();
      const target = targetOf(s), lossName = s.backward.lossName;
      const h = s.held;
      if (!h || h.target !== target || h.lossName !== lossName) {
        await forward.withInput(() => api.backward(target, lossName));
        set({ held: { target, lossName } });
      }
      return forward.withInput(() => api.gradcheck(param, samples, Math.floor(Math.random() * 1000)));
    },
  };
}
