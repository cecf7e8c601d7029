// Backward: a pass over the WebSocket, one layer per "next" or all of them with "run", the walk's highlight moving
// over the layers reached, the target and the loss it aims at, the cell explained, and gradient checks of it.

import { NO_BACKWARD, targetOf } from '../state.js';
import { argmaxAbs, unravel } from '../lib/tensor.js';

/** The cell to explain when a layer arrives: its largest |δ|, or the target class for the last layer. */
function defaultSelection(msg, target, last) {
  if (msg.index === last) return { layer: msg.index, part: 'delta', idx: [target] };
  return { layer: msg.index, part: 'delta', idx: unravel(argmaxAbs(msg.delta.data), msg.delta.shape) };
}

/**
 * @param {{api: ReturnType<import('../api.js').createApi>, store: ReturnType<import('../state.js').createStore>,
 *   forward: ReturnType<import('./forward.js').createForwardActions>, scrollTo: (index: number) => void}} deps
 */
export function createBackwardActions({ api, store, forward, scrollTo }) {
  const last = store.get().model.layers.length - 1;
  const total = last + 1;
  const set = (patch) => store.set(patch);

  function clear() {
    api.closePass();
    const b = store.get().backward;
    set({ backward: { ...NO_BACKWARD, id: b.id, lossName: b.lossName }, cursor: null, selection: null });
  }

  /** A frame's worth of pass messages into the state, as one change. */
  function receive(msgs) {
    const s = store.get();
    let b = s.backward, cursor = s.cursor, selection = s.selection, held = s.held;
    for (const msg of msgs) {
      if (msg.type === 'start') {
        b = { ...b, target: msg.target, lossName: msg.loss_name, loss: msg.loss };
        held = { target: msg.target, lossName: msg.loss_name };
      } else if (msg.type === 'layer') {
        b = { ...b, layers: { ...b.layers, [msg.index]: msg }, order: [...b.order, msg.index] };
        cursor = msg.index;
        selection = defaultSelection(msg, b.target, last);
      } else if (msg.type === 'done') {
        b = { ...b, status: 'complete' };
      }
    }
    set({ backward: b, cursor, selection, held });
    if (b.mode === 'step') scrollTo(cursor);
    if (b.status === 'complete') api.closePass();
  }

  function startPass(mode, retried = false) {
    const s = store.get();
    const target = targetOf(s);
    const lossName = s.backward.lossName;
    set({ backward: { ...NO_BACKWARD, id: s.backward.id + 1, status: 'streaming', mode,
      requested: mode === 'run' ? total : 1, target, lossName }, cursor: null, selection: null, error: null });
    api.openPass({ cmd: 'backward', target, loss: lossName, mode }, {
      onMessages: receive,
      onError(err) {
        api.closePass();
        if (err.code === 'no_forward_yet' && !retried) {
          forward.resend().then((sent) => {
            if (sent) startPass(mode, true);
            else set({ error: err.message });
          }, (e) => set({ error: e.message }));
          return;
        }
        // the pass has ended: what arrived stays on show, and the next step starts a new pass
        set({ error: err.message, backward: { ...store.get().backward, status: 'none' } });
      },
    });
  }

  function moveTo(pos) {
    const b = store.get().backward;
    const index = b.order[pos];
    set({ cursor: index, selection: defaultSelection(b.layers[index], b.target, last) });
    scrollTo(index);
  }

  return {
    /** One layer further: reviewed if already reached, else asked of the server. */
    next() {
      const s = store.get();
      if (!s.forward) return;
      const b = s.backward;
      const pos = b.order.indexOf(s.cursor);
      if (b.status === 'none') startPass('step');
      else if (pos >= 0 && pos < b.order.length - 1) moveTo(pos + 1);
      else if (b.status === 'streaming' && b.mode === 'step' && b.requested < total) {
        set({ backward: { ...b, requested: b.requested + 1 } });
        api.passNext();
      }
    },
    prev() {
      const s = store.get();
      const pos = s.backward.order.indexOf(s.cursor);
      if (pos > 0) moveTo(pos - 1);
    },
    /** Every remaining layer: the rest of the pass, or a new one; a pass already complete is only walked to its end. */
    run() {
      const s = store.get();
      if (!s.forward) return;
      const b = s.backward;
      if (b.status === 'streaming') {
        set({ backward: { ...b, mode: 'run', requested: total } });
        api.passRun();
      } else if (b.status === 'complete') {
        if (s.cursor !== b.order.at(-1)) moveTo(b.order.length - 1);
      } else startPass('run');
    },
    target(t) {
      const status = store.get().backward.status;
      set({ target: t });
      if (status === 'complete') startPass('run');
      else if (status === 'streaming') startPass('step');
      else clear();
    },
    lossName(name) {
      const b = store.get().backward;
      set({ backward: { ...b, lossName: name, loss: null } });
      if (b.status !== 'none') startPass(b.status === 'complete' ? 'run' : 'step');
    },
    select: (selection) => set({ selection, cursor: store.get().backward.layers[selection.layer]
      ? selection.layer : store.get().cursor }),
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
