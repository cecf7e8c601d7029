// What the buttons, the pad and the keys do: requests through the api, results into the store. Forward goes over
// REST (latest drawing only, one request in flight); backward over the WebSocket, one layer per "next"; update,
// reset and gradient checks over REST.

import { NO_BACKWARD } from './state.js';
import { crossEntropy, squaredError } from './lib/backprop.js';
import { argmaxAbs } from './lib/tensor.js';
import { latestOnly } from './lib/scheduler.js';
import { whenPainted } from './lib/plot.js';

/** The loss for the chosen target: the server's once a pass reports it, else computed from the forward output. */
export function lossValue(s) {
  const f = s.forward;
  if (!f) return null;
  const t = s.target ?? f.prediction;
  const b = s.backward;
  if (b.lossName === 'mse') {
    const value = b.loss !== null && b.target === t ? b.loss : squaredError(f.layers.at(-1).data, t);
    return { value, formula: '½Σ(t − y)²' };
  }
  const value = b.loss !== null && b.target === t ? b.loss : crossEntropy(f.probabilities, t);
  return { value, formula: `−ln p${String(t).replace(/\d/g, (d) => '₀₁₂₃₄₅₆₇₈₉'[d])}` };
}

/** The cell to explain when a layer arrives: its largest |δ|, or the target class for the last layer. */
function defaultSelection(msg, target, last) {
  if (msg.index === last) return { layer: msg.index, part: 'delta', idx: [target] };
  const d = msg.delta;
  const k = argmaxAbs(d.data);
  const idx = [];
  let r = k;
  for (let a = d.shape.length - 1; a >= 0; a--) { idx.unshift(r % d.shape[a]); r = Math.floor(r / d.shape[a]); }
  return { layer: msg.index, part: 'delta', idx };
}

/**
 * @param {ReturnType<import('./api.js').createApi>} api  @param {ReturnType<import('./state.js').createStore>} store
 * @param {{pad: object, scrollTo: (index: number) => void}} ui
 */
export function createActions(api, store, ui) {
  const last = store.get().model.layers.length - 1;
  let pass = null;           // the open WebSocket pass
  let serverTarget = false;  // the server holds a backward for the current forward (an update may run)
  let lastInput = null;      // what the last successful forward read ({dataUrl} or {file}), to run it again
  let ignoreBelow = 0;       // answers for drawings older than this (a cleared pad) are dropped
  let strokeEnd = null;      // the version a 'stroke-end' mark waits for
  let measureRun = false;
  let inbox = [];            // pass messages waiting for the next frame: a run's 12 layers paint once

  const set = (patch) => store.set(patch);
  const busy = (k, v) => set({ busy: { ...store.get().busy, [k]: v } });
  const targetOf = (s) => s.target ?? s.forward?.prediction ?? 0;

  function closePass() {
    if (pass) pass.close();
    pass = null;
    inbox = [];
  }

  function clearBackward() {
    closePass();
    set({ backward: { ...NO_BACKWARD, lossName: store.get().backward.lossName }, cursor: null, selection: null,
      busy: { ...store.get().busy, pass: false } });
  }

  async function loadParams() {
    const names = store.get().model.layers.filter((L) => L.params > 0).map((L) => L.name);
    try {
      const answers = await Promise.all(names.map((n) => api.params(n)));
      const params = {};
      answers.forEach((a) => { params[a.layer] = a.params; });
      set({ params });
    } catch (err) {
      set({ error: err.message });
    }
  }

  function applyForward(r, input) {
    lastInput = input;
    serverTarget = false;
    closePass();
    const s = store.get();
    set({
      forward: { input: r.input, layers: r.layers.map((l) => l.output), prediction: r.prediction,
        probabilities: r.probabilities },
      backward: { ...NO_BACKWARD, lossName: s.backward.lossName }, cursor: null, selection: null,
      error: null, busy: { ...s.busy, forward: false, pass: false },
    });
    if (!Object.keys(s.params).length) loadParams();
  }

  /** The server forgot this tab's input (it restarted, or the session expired): send the drawing again. */
  const forgotten = (err) => err && err.code === 'no_forward_yet' && lastInput;
  async function forwardAgain() {
    const input = lastInput;
    applyForward(await api.forward(input), input);
  }

  const forwardSender = latestOnly((input) => api.forward(input).then((r) => ({ r, input })), {
    onResult({ r, input }, tag) {
      if (tag.version < ignoreBelow) return;
      applyForward(r, input);
      if (strokeEnd !== null && tag.version >= strokeEnd) {
        strokeEnd = null;
        whenPainted().then(() => {
          performance.mark('forward-painted');
          performance.measure('stroke-to-forward', 'stroke-end', 'forward-painted');
        });
      }
    },
    onError(err, tag) {
      if (tag.version < ignoreBelow) return;
      set({ error: err.message, busy: { ...store.get().busy, forward: false } });
    },
  });

  function sendDrawing() {
    busy('forward', true);
    forwardSender.request(() => ({ dataUrl: ui.pad.dataUrl() }), { version: ui.pad.version });
  }

  function applyMessages() {
    const msgs = inbox;
    inbox = [];
    if (!msgs.length) return;
    const s = store.get();
    let b = s.backward, cursor = s.cursor, selection = s.selection, done = false;
    for (const msg of msgs) {
      if (msg.type === 'start') b = { ...b, target: msg.target, lossName: msg.loss_name };
      else if (msg.type === 'layer') {
        b = { ...b, layers: { ...b.layers, [msg.index]: msg }, order: [...b.order, msg.index] };
        cursor = msg.index;
        selection = defaultSelection(msg, b.target, last);
      } else if (msg.type === 'done') {
        b = { ...b, status: 'complete', loss: msg.loss };
        done = true;
      }
    }
    set({ backward: b, cursor, selection, busy: { ...s.busy, pass: false } });
    if (!measureRun) ui.scrollTo(cursor);
    if (done) {
      closePass();
      if (measureRun) {
        measureRun = false;
        whenPainted().then(() => {
          performance.mark('backward-painted');
          performance.measure('backward-run', 'backward-start', 'backward-painted');
        });
      }
    } else if (!measureRun) {
      whenPainted().then(() => {
        performance.mark('step-painted');
        performance.measure('backward-step', 'step-start', 'step-painted');
      });
    }
  }

  function startPass(mode, retried = false) {
    closePass();
    const s = store.get();
    const target = targetOf(s);
    set({ backward: { ...NO_BACKWARD, status: 'streaming', target, lossName: s.backward.lossName }, cursor: null,
      selection: null, error: null, busy: { ...s.busy, pass: true } });
    serverTarget = true;
    const mine = api.openPass({ cmd: 'backward', target, loss: s.backward.lossName, mode }, {
      onMessage(msg) {
        if (pass !== mine) return;
        inbox.push(msg);
        if (inbox.length === 1) requestAnimationFrame(applyMessages);
      },
      onError(err) {
        if (pass !== mine) return;
        if (forgotten(err) && !retried) {
          closePass();
          forwardAgain().then(() => startPass(mode, true), (e) => set({ error: e.message }));
          return;
        }
        set({ error: err.message, busy: { ...store.get().busy, pass: false } });
      },
    });
    pass = mine;
  }

  async function ensureServerBackward() {
    if (serverTarget) return;
    const s = store.get();
    try {
      await api.backward(targetOf(s), s.backward.lossName);
    } catch (err) {
      if (!forgotten(err)) throw err;
      await forwardAgain();
      await api.backward(targetOf(store.get()), s.backward.lossName);
    }
    serverTarget = true;
  }

  async function rerunForward() {
    if (!lastInput) return;
    busy('forward', true);
    forwardSender.request(() => lastInput, { version: ui.pad.version });
  }

  return {
    /** The pad changed: 'move' (debounced by the caller), 'end', 'clear', 'undo', 'sample'. */
    drawingChanged(reason) {
      if (reason === 'clear' || ui.pad.isEmpty()) {
        ignoreBelow = ui.pad.version + 1;
        forwardSender.drop();
        clearBackward();
        set({ forward: null, error: null, target: null, busy: { ...store.get().busy, forward: false } });
        return;
      }
      if (reason === 'end') {
        performance.mark('stroke-end');
        strokeEnd = ui.pad.version;
      }
      if (reason === 'sample') set({ target: null });
      sendDrawing();
    },
    file(file) {
      set({ target: null });
      busy('forward', true);
      forwardSender.request(() => ({ file }), { version: ui.pad.version + 1 });
    },
    forward: () => (ui.pad.isEmpty() ? rerunForward() : sendDrawing()),
    next() {
      const s = store.get();
      if (!s.forward) return;
      performance.mark('step-start');
      const b = s.backward;
      const pos = b.order.indexOf(s.cursor);
      if (b.status === 'none') { measureRun = false; startPass('step'); return; }
      if (pos >= 0 && pos < b.order.length - 1) {
        set({ cursor: b.order[pos + 1], selection: defaultSelection(b.layers[b.order[pos + 1]], b.target, last) });
        ui.scrollTo(b.order[pos + 1]);
      } else if (b.status === 'streaming' && pass) {
        measureRun = false;
        busy('pass', true);
        pass.next();
      }
    },
    prev() {
      const s = store.get();
      const b = s.backward;
      const pos = b.order.indexOf(s.cursor);
      if (pos > 0) {
        set({ cursor: b.order[pos - 1], selection: defaultSelection(b.layers[b.order[pos - 1]], b.target, last) });
        ui.scrollTo(b.order[pos - 1]);
      }
    },
    run() {
      const s = store.get();
      if (!s.forward) return;
      performance.mark('backward-start');
      measureRun = true;
      if (s.backward.status === 'streaming' && pass) pass.run();
      else if (s.backward.status !== 'complete' || s.cursor !== 0) startPass('run');
      else measureRun = false;
    },
    target(t) {
      const status = store.get().backward.status;
      set({ target: t });
      if (status === 'complete') { measureRun = true; performance.mark('backward-start'); startPass('run'); }
      else if (status === 'streaming') startPass('step');
      else { clearBackward(); serverTarget = false; }
    },
    lossName(name) {
      const status = store.get().backward.status;
      set({ backward: { ...store.get().backward, lossName: name, loss: null } });
      serverTarget = false;
      if (status !== 'none') startPass(status === 'complete' ? 'run' : 'step');
    },
    select: (selection) => set({ selection, cursor: store.get().backward.layers[selection.layer]
      ? selection.layer : store.get().cursor }),
    neuron: (neuron) => set({ neuron }),
    loadParams,
    async update(lr, momentum) {
      const s = store.get();
      if (!s.forward) { set({ error: 'draw a digit first: an update needs an input and a target' }); return; }
      busy('update', true);
      try {
        await ensureServerBackward();
        const paramsBefore = store.get().params;
        const res = await api.step(lr, momentum);
        set({ update: { ...res, paramsBefore }, error: null });
        serverTarget = false;
        clearBackward();
        await loadParams();
        rerunForward();
      } catch (err) {
        set({ update: { ...(store.get().update || {}), error: err.message } });
      } finally {
        busy('update', false);
      }
    },
    async reset() {
      clearBackward();
      try {
        await api.reset();
        serverTarget = false;
        set({ update: null, error: null });
        await loadParams();
        rerunForward();
      } catch (err) {
        set({ error: err.message });
      }
    },
    async gradcheck(param, samples) {
      await ensureServerBackward();
      return api.gradcheck(param, samples, Math.floor(Math.random() * 1000));
    },
    async inputSteps() {
      return api.inputSteps();
    },
  };
}
