// What the training lab's controls do: edit the architecture (each change checked by the server, debounced), start
// and steer a job, follow its stream into the store, scrub its checkpoints, and put the trained network to use in
// the visualizer (or go back to the pretrained one). State lives in store.lab; the open socket is the one resource
// kept here, as it is not state but a connection.

import { debounce } from '../lib/scheduler.js';
import { jobEnded, jobOf, makeRow, rowsOf, specOf, withMessage } from './state.js';

/** The words shown for a refusal, by the server's code; its own message follows where it says more. */
const REFUSED = {
  training_data_missing: 'Training needs the MNIST files on the server.',
  job_conflict: 'This tab already has a training job.',
  train_limit: 'That run is over one of the server’s limits.',
  invalid_spec: 'This architecture cannot be trained.',
};

/**
 * @param {{api: ReturnType<import('../api.js').createApi>, store: ReturnType<import('../state.js').createStore>,
 *   visualizer: ReturnType<import('./model.js').createModelSwitch>}} deps
 */
// The tab's last job, kept across a reload (the server allows one job per session: a page that forgot it could start
// no other until it ends). Per tab, as the session is.
const JOB_KEY = 'cnn-lab-job';

/** The id of the job this tab last started, if any. */
export function rememberedJob() {
  try { return sessionStorage.getItem(JOB_KEY); } catch { return null; }
}

function remember(id) {
  try { if (id) sessionStorage.setItem(JOB_KEY, id); else sessionStorage.removeItem(JOB_KEY); } catch { /* private mode */ }
}

export function createLabActions({ api, store, visualizer }) {
  const lab = () => store.get().lab;
  const setLab = (patch) => store.set({ lab: { ...lab(), ...patch } });
  let closeStream = () => {};
  const digits = new Map(); // test digits already fetched: a cache of the server's pixels, not state

  async function check() {
    const id = lab().checkId + 1;
    setLab({ checkId: id });
    const rows = lab().rows;
    if (!rows.length) { setLab({ check: null }); return; }
    try {
      const r = await api.specCheck(specOf(rows));
      if (lab().checkId === id) setLab({ check: r });
    } catch (err) {
      if (lab().checkId === id) setLab({ check: null, message: `The architecture could not be checked: ${err.message}` });
    }
  }
  const checkLater = debounce(check, 250);

  function setRows(rows, preset = '') {
    setLab({ rows, preset });
    checkLater();
  }

  /** Fold one message of the stream into the job, if it is still the job shown. */
  function receive(id, m) {
    const job = lab().job;
    if (!job || job.id !== id) return;
    const next = withMessage(job, m);
    setLab({ job: next, ...(m.type === 'failed' ? { message: `Training failed: ${m.error}` } : {}) });
  }

  /** Follow a job: its messages from the last seen on; a stream cut before the end is opened again. */
  function follow(id) {
    closeStream();
    closeStream = api.trainStream(id, lab().job.seen, (m) => receive(id, m), (clean) => {
      const job = lab().job;
      if (job?.id === id && !jobEnded(job) && !clean) setTimeout(() => { if (lab().job?.id === id) follow(id); }, 1000);
    });
  }

  /** A control's answer (pause, resume, stop) brings the state: the stream brings the messages. */
  async function control(what) {
    const job = lab().job;
    if (!job) return;
    try {
      const r = await api.trainAction(job.id, what);
      const now = lab().job;
      if (now?.id === job.id && !jobEnded(now)) setLab({ job: { ...now, state: r.state, queuePosition: r.queue_position } });
    } catch (err) {
      setLab({ message: err.message });
    }
  }

  /** Take up the job this tab started before a reload: its whole stream again from the first message. */
  async function resume(id) {
    try {
      const r = await api.trainStatus(id, 10 ** 9); // the state only: the stream replays the messages
      if (lab().job) return; // a new one was started meanwhile
      setLab({ job: jobOf(r), ...(r.request?.spec ? { rows: rowsOf(r.request.spec) } : {}) });
      follow(id);
      if (r.request?.spec) checkLater();
    } catch {
      remember(null); // gone (forgotten by the server, or another server's): nothing to take up
    }
  }

  return {
    /** The presets, and the tiny one in the editor; then the job this tab had running before a reload, if any. */
    async init() {
      try {
        const { presets } = await api.presets();
        setLab({ presets });
        const tiny = presets.find((p) => p.name === 'tiny') ?? presets[0];
        if (tiny && !lab().rows.length) setRows(rowsOf(tiny.spec), tiny.name);
      } catch (err) {
        setLab({ message: `The presets could not be loaded: ${err.message}` });
      }
      const id = rememberedJob();
      if (id && !lab().job) await resume(id);
    },
    /** Show or hide the lab; the first time it opens, its presets are asked for. */
    toggle() {
      const open = !lab().open;
      setLab({ open });
      if (open && !lab().presets.length) this.init();
    },
    preset(name) {
      const p = lab().presets.find((q) => q.name === name);
      if (p) setRows(rowsOf(p.spec), name);
    },
    add(type) { setRows([...lab().rows, makeRow(type)]); },
    remove(i) { setRows(lab().rows.filter((_, k) => k !== i)); },
    /** Move row i by `by` (−1 up, +1 down). */
    move(i, by) {
      const rows = [...lab().rows];
      const j = i + by;
      if (j < 0 || j >= rows.length) return;
      [rows[i], rows[j]] = [rows[j], rows[i]];
      setRows(rows);
    },
    field(i, name, value) {
      setRows(lab().rows.map((r, k) => (k === i ? { ...r, [name]: value } : r)));
    },
    type(i, type) {
      setRows(lab().rows.map((r, k) => (k === i ? makeRow(type) : r)));
    },
    setting(name, value) { setLab({ settings: { ...lab().settings, [name]: value } }); },

    async start() {
      const l = lab();
      if (l.busy || (l.job && !jobEnded(l.job))) return;
      setLab({ busy: true, message: null, checkpoint: null });
      try {
        const r = await api.train({ spec: specOf(l.rows), ...l.settings });
        setLab({ job: jobOf(r), busy: false });
        remember(r.id);
        follow(r.id);
      } catch (err) {
        const lead = REFUSED[err.code];
        setLab({ busy: false, message: lead ? `${lead} ${err.message}` : `Training could not start: ${err.message}` });
      }
    },
    pause: () => control('pause'),
    resume: () => control('resume'),
    stop: () => control('stop'),

    /** The filters at checkpoint k (0: the random start). */
    async scrub(k) {
      const job = lab().job;
      if (!job) return;
      setLab({ checkpoint: { k, kernels: null, loading: true } });
      try {
        const r = await api.checkpoint(job.id, k);
        if (lab().checkpoint?.k === k) setLab({ checkpoint: { k, kernels: r.kernels, epoch: r.epoch, step: r.step } });
      } catch (err) {
        setLab({ message: err.message });
      }
    },
    /** Back from a checkpoint to the run's latest filters. */
    live() { setLab({ checkpoint: null }); },
    /** A test digit's pixels (28, 28) uint8, fetched once each. @param {number} index */
    digit(index) {
      if (!digits.has(index)) {
        digits.set(index, api.testDigit(index).then((d) => d.image.data));
        digits.get(index).catch(() => digits.delete(index));
      }
      return digits.get(index);
    },
    /** The session runs the trained network, and the visualizer shows it. */
    async use() {
      const job = lab().job;
      if (!job || lab().busy) return false;
      setLab({ busy: true, message: null });
      try {
        await api.trainAction(job.id, 'use');
        await visualizer.adopt(job.id);
        return true;
      } catch (err) {
        setLab({ message: `The trained network could not be opened: ${err.message}` });
        return false;
      } finally {
        setLab({ busy: false });
      }
    },
    /** Back to the pretrained network, in the session and in the page. */
    async back() {
      setLab({ busy: true, message: null });
      try {
        await api.reset();
        await visualizer.adopt(null);
      } catch (err) {
        setLab({ message: err.message });
      } finally {
        setLab({ busy: false });
      }
    },
    /** A test digit in the visualizer on the trained network (opened first if it is not yet). */
    async openDigit(index) {
      const job = lab().job;
      if (!job) return;
      if (store.get().trained !== job.id && !(await this.use())) return;
      try {
        await visualizer.openDigit(await this.digit(index));
      } catch (err) {
        setLab({ message: err.message });
      }
    },
  };
}
