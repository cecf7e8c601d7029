// The training lab's part of the store (state.lab) and pure helpers: the editor's rows and the engine spec they
// make, and a job's messages (WS /ws/train/{id}) folded into what the panel shows. No DOM, no requests.

/** Each layer type the editor offers, with the fields it edits and their defaults (the engine's argument names). */
export const LAYER_TYPES = {
  Conv2D: { out_channels: 6, kernel_size: 5, stride: 1, padding: 0 },
  MaxPool2D: { size: 2, stride: 2 },
  AvgPool2D: { size: 2, stride: 2 },
  ReLU: {},
  Sigmoid: {},
  Tanh: {},
  Dropout: { p: 0.5 },
  Flatten: {},
  Dense: { out_features: 10 },
};

/** The words a learner reads for each field, and its input's bounds. */
export const FIELDS = {
  out_channels: { label: 'filters', min: 1, max: 64, step: 1 },
  kernel_size: { label: 'kernel', min: 1, max: 28, step: 1 },
  stride: { label: 'stride', min: 1, max: 28, step: 1 },
  padding: { label: 'padding', min: 0, max: 14, step: 1 },
  size: { label: 'size', min: 1, max: 28, step: 1 },
  p: { label: 'drop rate', min: 0, max: 0.95, step: 0.05 },
  out_features: { label: 'units', min: 1, max: 1024, step: 1 },
};

/** Small by default, so that a run takes seconds (the tiny preset: a few thousand weights). */
export const DEFAULT_SETTINGS = Object.freeze({ epochs: 1, batch_size: 32, lr: 0.05, momentum: 0.9, optimizer: 'sgd',
  train_size: 2000, augment: false, seed: 0 });

let nextKey = 1;

/** An editor row of `type`, its fields from `fields` where given, else the defaults (a pool's stride: its size). */
export function makeRow(type, fields = {}) {
  const row = { key: nextKey++, type, ...LAYER_TYPES[type] };
  for (const k of Object.keys(LAYER_TYPES[type])) if (fields[k] !== undefined) row[k] = fields[k];
  if ((type === 'MaxPool2D' || type === 'AvgPool2D') && fields.stride === undefined) row.stride = row.size;
  return row;
}

/** The rows of a spec's layers (a preset's, or the one a job trained). @param {{layers: object[]}} spec */
export function rowsOf(spec) {
  return spec.layers.filter((L) => LAYER_TYPES[L.type]).map((L) => makeRow(L.type, L));
}

/** The engine spec of the editor's rows, as POST /api/spec/check and /api/train take it. */
export function specOf(rows) {
  return { input_shape: [1, 28, 28], layers: rows.map(({ key, type, ...fields }) => ({ type, ...fields })) };
}

/** The lab before anything happened. */
export function initialLab() {
  return {
    open: false, // the panel is shown (nothing is asked of the server until it is)
    presets: [], preset: '', rows: [], check: null, checkId: 0, settings: { ...DEFAULT_SETTINGS },
    job: null, // see jobOf
    checkpoint: null, // {k, kernels} chosen on the scrubber; null: the latest snapshot
    message: null, // what went wrong, in plain words
    busy: false, // a start, use or back is out
  };
}

/**
 * A job as the panel holds it, before its first message.
 * @param {{id: string, state: string, queue_position: number|null}} r  POST /api/train's answer
 */
export function jobOf(r) {
  return {
    id: r.id, state: r.state, queuePosition: r.queue_position, seen: 0, started: null, progress: null,
    curves: { step: [], loss: [], accuracy: [], valStep: [], valLoss: [], valAccuracy: [] },
    snapshot: null, firstKernels: null, checkpoints: [], done: null, error: null,
  };
}

/**
 * The job after one more message of its stream. @param {ReturnType<typeof jobOf>} job  @param {object} m
 * @returns {ReturnType<typeof jobOf>}
 */
export function withMessage(job, m) {
  const j = { ...job, seen: job.seen + 1 };
  const c = job.curves;
  switch (m.type) {
    case 'running': return { ...j, state: 'running', queuePosition: null };
    case 'started': return { ...j, state: 'running', started: m };
    case 'progress': return { ...j, progress: m, curves: { ...c, step: [...c.step, m.step],
      loss: [...c.loss, m.loss], accuracy: [...c.accuracy, m.accuracy] } };
    case 'snapshot': return { ...j, snapshot: m, firstKernels: job.firstKernels ?? m.kernels };
    case 'validation': return { ...j, curves: { ...c, valStep: [...c.valStep, m.step], valLoss: [...c.valLoss, m.loss],
      valAccuracy: [...c.valAccuracy, m.accuracy] } };
    case 'checkpoint': return { ...j, checkpoints: [...job.checkpoints, { k: m.k, epoch: m.epoch, step: m.step }] };
    case 'paused': return { ...j, state: 'paused' };
    case 'resumed': return { ...j, state: 'running' };
    case 'done': return { ...j, state: 'done', done: m };
    case 'failed': return { ...j, state: 'failed', error: m.error };
    case 'stopped': return { ...j, state: 'stopped', error: m.reason };
    default: return j;
  }
}

/** The job has ended: no more messages will come. @param {{state: string}|null} job */
export function jobEnded(job) {
  return !!job && ['done', 'failed', 'stopped'].includes(job.state);
}
