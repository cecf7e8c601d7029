// Input and forward: the pad's drawing, preprocessed in the page (lib/preprocess.js) and sent as its 28×28 input,
// or an uploaded file, sent for the server to preprocess; latest drawing only, one request in flight. Also the
// recovery when the server has forgotten the input, and the neuron picked in the inspector.

import { noBackward } from '../state.js';
import { latestOnly } from '../lib/scheduler.js';
import { grayFromImageData, preprocess } from '../lib/preprocess.js';

/** The forward state of a forward answer ({prediction, probabilities, layers}) on `input`. */
export function forwardOf(r, input, version) {
  return { input, layers: r.layers.map((l) => l.output), prediction: r.prediction, probabilities: r.probabilities,
    version, input_warnings: r.input_warnings ?? [] };
}

/**
 * @param {{api: ReturnType<import('../api.js').createApi>, store: ReturnType<import('../state.js').createStore>,
 *   pad: object, onForward: () => void}} deps  onForward: a new forward was applied (the weights may be fetched)
 */
export function createForwardActions({ api, store, pad, onForward }) {
  const set = (patch) => store.set(patch);
  const busy = (k, v) => set({ busy: { ...store.get().busy, [k]: v } });

  /** A new forward replaces the old one and everything computed from it. */
  function applyForward(r, job) {
    const s = store.get();
    set({
      forward: forwardOf(r, r.input ?? job.input, job.version), source: job.source,
      backward: noBackward(s.backward), held: null, cursor: null,
      selection: null, error: null, busy: { ...s.busy, forward: false },
    });
    onForward();
  }

  const sender = latestOnly((job) => api.forward(job.body).then((r) => ({ r, job })), {
    onResult({ r, job }) {
      if (job.version < store.get().drawing.staleBelow) return;
      applyForward(r, job);
    },
    onError(err, version) {
      if (version < store.get().drawing.staleBelow) return;
      set({ error: err.message, busy: { ...store.get().busy, forward: false } });
    },
  });

  /** The drawing as it is now: preprocessed when it is sent, never before (only what is sent is computed). */
  function sendDrawing() {
    const version = store.get().drawing.version;
    busy('forward', true);
    sender.request(() => {
      const pixels = pad.pixels();
      const { input, steps } = preprocess(grayFromImageData(pixels), pixels.height, pixels.width);
      const tensor = { shape: [28, 28], data: input };
      return { body: { input: tensor }, input: tensor, source: { kind: 'drawing', steps }, version };
    }, version);
  }

  function sendFile(file, version) {
    busy('forward', true);
    sender.request(() => ({ body: { file }, source: { kind: 'file', file, steps: null }, version }), version);
  }

  /**
   * The server forgot this tab's input (it restarted, or the session expired): send what the page holds again, the
   * 28×28 input of a drawing or the file, and apply the answer. False when the page holds no input.
   */
  async function resend() {
    const s = store.get();
    if (!s.forward || !s.source) return false;
    const job = s.source.kind === 'file'
      ? { body: { file: s.source.file }, source: { ...s.source, steps: null }, version: s.forward.version }
      : { body: { input: s.forward.input }, input: s.forward.input, source: s.source, version: s.forward.version };
    applyForward(await api.forward(job.body), job);
    return true;
  }

  /**
   * `call()`, and if the server answers that it has no input (409 no_forward_yet, or session_expired), the input
   * sent again, `onResend()`, and `call()` once more.
   * @template T  @param {() => Promise<T>} call  @param {() => void} [onResend]  @returns {Promise<T>}
   */
  async function withInput(call, onResend = () => {}) {
    try {
      return await call();
    } catch (err) {
      if (!inputGone(err) || !(await resend())) throw err;
      onResend();
      return call();
    }
  }

  /**
   * Whether an error means the server no longer holds this tab's input: the session was lost with it (409
   * session_expired: a restarted server, an eviction) or the browser came back as a new one (409 no_forward_yet:
   * its cookie expired with the idle session). Either way the server's weights are the pretrained ones again, so
   * the page drops its own copy; it is fetched anew when needed.
   * @param {{code?: string}} err
   */
  function inputGone(err) {
    if (err.code !== 'session_expired' && err.code !== 'no_forward_yet') return false;
    set({ params: {} });
    return true;
  }

  return {
    applyForward,
    inputGone,
    resend,
    withInput,
    /** The pad changed: 'move' (debounced by the caller), 'end', 'clear', 'undo', 'sample'. */
    drawingChanged(reason) {
      const s = store.get();
      const version = pad.version;
      const strokeEnd = reason === 'end' ? version : reason === 'move' ? s.drawing.strokeEnd : null;
      if (reason === 'clear' || pad.isEmpty()) {
        sender.drop();
        set({ drawing: { version, strokeEnd: null, staleBelow: version + 1 }, forward: null, source: null,
          backward: noBackward(s.backward), held: null, cursor: null,
          selection: null, error: null, target: null, busy: { ...s.busy, forward: false } });
        return;
      }
      set({ drawing: { ...s.drawing, version, strokeEnd }, ...(reason === 'sample' ? { target: null } : {}) });
      sendDrawing();
    },
    /** A file was chosen or dropped: the server reads it (its errors, e.g. not an image, are the ones shown). */
    file(file) {
      const s = store.get();
      const version = pad.version + 1; // the pad shows the file once it is decoded: one version later
      set({ drawing: { ...s.drawing, version, strokeEnd: null }, target: null });
      sendFile(file, version);
    },
    /** Forward again: the file if the input is one, else the drawing. */
    forward() {
      const s = store.get();
      if (s.source?.kind === 'file') sendFile(s.source.file, s.drawing.version);
      else if (!pad.isEmpty()) sendDrawing();
    },
    neuron: (neuron) => set({ neuron }),
    /** The preprocessing steps: a drawing's are the page's own; a file's are asked of the server once. */
    async inputSteps() {
      const s = store.get();
      if (!s.source || s.source.steps) return;
      try {
        const r = await withInput(() => api.inputSteps());
        const now = store.get().source; // a resend replaces the source: the steps belong to it if it is the same file
        if (now?.kind === 'file' && now.file === s.source.file) set({ source: { ...now, steps: r.steps } });
      } catch (err) {
        set({ error: err.message });
      }
    },
  };
}
