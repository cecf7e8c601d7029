// Training: the run's settings, Start / Pause / Resume / Stop, the progress (an aria-live line and a bar), the loss
// and accuracy curves (Plotly: newPlot once per job, then extendTraces with the points that arrived), conv1's
// filters as they evolve (or at the checkpoint chosen on the scrubber) and the probe digit's feature maps.

import { h } from '../lib/dom.js';
import { fmt, thousands } from '../lib/format.js';
import { FONT } from '../lib/plot.js';
import { digitCanvas, paintGrid } from './paint.js';
import { jobEnded } from './state.js';

const SETTINGS = [
  { name: 'epochs', label: 'Epochs', min: 1, max: 20, step: 1 },
  { name: 'batch_size', label: 'Batch size', min: 1, max: 1024, step: 1 },
  { name: 'lr', label: 'Learning rate', min: 0.0001, max: 1, step: 0.005 },
  { name: 'momentum', label: 'Momentum', min: 0, max: 0.99, step: 0.1 },
  { name: 'train_size', label: 'Training images', min: 100, max: 58000, step: 100 },
  { name: 'seed', label: 'Seed', min: 0, max: 99999, step: 1 },
];
const TRAIN = '#1f4e8c', VAL = '#f08c00';

function seconds(s) {
  if (s == null || !Number.isFinite(s)) return '–';
  return s < 60 ? `${Math.ceil(s)} s` : `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`;
}

/** The progress in words, for the aria-live line. @param {object} job */
export function progressText(job) {
  if (!job) return 'No training yet: pick an architecture and press Start.';
  const p = job.progress, st = job.started;
  switch (job.state) {
    case 'queued': return `Queued: position ${job.queuePosition ?? '?'} in the line for a worker.`;
    case 'failed': return `Failed: ${job.error}`;
    case 'stopped': return `Stopped (${job.error || 'on request'}).` + (p ? ` It reached step ${p.step}.` : '');
    case 'done': return `Done in ${seconds(job.done.seconds)}: test accuracy ${(100 * job.done.test_accuracy).toFixed(2)} %`
      + ' on 10,000 digits it never saw.';
    default: {
      const where = p ? `Epoch ${p.epoch} of ${st?.epochs ?? '?'} · step ${p.step} of ${st?.total_steps ?? '?'}`
        + ` · ${thousands(Math.round(p.examples_per_second))} images/s · ${seconds(p.seconds_left)} left`
        : 'Starting: loading the data and the first snapshot…';
      return (job.state === 'paused' ? 'Paused · ' : '') + where;
    }
  }
}

function curveLayout(title, yTitle, range) {
  return {
    margin: { l: 48, r: 8, t: 28, b: 36 }, font: { ...FONT, size: 12 }, paper_bgcolor: 'rgba(0,0,0,0)',
    plot_bgcolor: '#fff', title: { text: title, font: { size: 13 }, x: 0.02 }, showlegend: true,
    legend: { orientation: 'h', y: -0.25, x: 0 }, height: 230,
    xaxis: { title: { text: 'step', standoff: 4 }, rangemode: 'tozero', zeroline: false },
    yaxis: { title: { text: yTitle }, ...(range ? { range } : { rangemode: 'tozero' }), zeroline: false },
  };
}

/**
 * @param {HTMLElement} root
 * @param {ReturnType<import('./actions.js').createLabActions>} act
 */
export function createTrainView(root, act) {
  const inputs = {};
  const fields = SETTINGS.map((s) => {
    const input = h('input', { type: 'number', id: `lab-${s.name}`, min: s.min, max: s.max, step: s.step,
      inputmode: 'decimal', 'data-testid': `lab-${s.name}` });
    input.addEventListener('change', () => { if (input.value !== '') act.setting(s.name, Number(input.value)); });
    inputs[s.name] = input;
    return h('div', { class: 'lab-setting' }, h('label', { for: input.id }, s.label), input);
  });
  const optimizer = h('select', { id: 'lab-optimizer', 'data-testid': 'lab-optimizer' },
    h('option', { value: 'sgd' }, 'SGD + momentum'), h('option', { value: 'adam' }, 'Adam'));
  optimizer.addEventListener('change', () => {
    act.setting('optimizer', optimizer.value);
    // each optimizer's usual learning rate
    act.setting('lr', optimizer.value === 'adam' ? 0.001 : 0.05);
  });
  const augment = h('input', { type: 'checkbox', id: 'lab-augment', 'data-testid': 'lab-augment' });
  augment.addEventListener('change', () => act.setting('augment', augment.checked));
  fields.splice(3, 0, h('div', { class: 'lab-setting' }, h('label', { for: 'lab-optimizer' }, 'Optimizer'), optimizer));
  fields.push(h('div', { class: 'lab-setting lab-check' }, augment,
    h('label', { for: 'lab-augment' }, 'Augment (rotate, scale, shift)')));

  const start = h('button', { type: 'button', class: 'primary', 'data-testid': 'lab-start' }, 'Start training');
  const pause = h('button', { type: 'button', 'data-testid': 'lab-pause' }, 'Pause');
  const resume = h('button', { type: 'button', 'data-testid': 'lab-resume' }, 'Resume');
  const stop = h('button', { type: 'button', 'data-testid': 'lab-stop' }, 'Stop');
  start.addEventListener('click', () => act.start());
  pause.addEventListener('click', () => act.pause());
  resume.addEventListener('click', () => act.resume());
  stop.addEventListener('click', () => act.stop());
  const status = h('p', { class: 'lab-status', role: 'status', 'aria-live': 'polite', 'data-testid': 'lab-status' });
  const bar = h('progress', { class: 'lab-bar', max: 1, value: 0, 'aria-label': 'Training progress',
    'data-testid': 'lab-progress' });

  const lossEl = h('div', { class: 'lab-curve', 'data-testid': 'lab-loss-curve' });
  const accEl = h('div', { class: 'lab-curve', 'data-testid': 'lab-accuracy-curve' });
  const filters = h('div', { class: 'lab-grid lab-filters', 'data-testid': 'lab-filters' });
  const filtersCaption = h('p', { class: 'hint', 'data-testid': 'lab-filters-caption' });
  const scrub = h('input', { type: 'range', id: 'lab-scrub', min: 0, max: 0, step: 1, value: 0, disabled: true,
    'data-testid': 'lab-scrubber' });
  const scrubLabel = h('label', { for: 'lab-scrub' }, 'Checkpoints');
  const live = h('button', { type: 'button', class: 'small quiet', 'data-testid': 'lab-live', hidden: true },
    'Follow the run');
  const probe = h('div', { class: 'lab-probe' });
  const maps = h('div', { class: 'lab-grid lab-maps', 'data-testid': 'lab-maps' });
  const probeCaption = h('p', { class: 'hint', 'data-testid': 'lab-probe-caption' });
  let scrubTimer = 0;
  scrub.addEventListener('input', () => {
    clearTimeout(scrubTimer);
    scrubTimer = setTimeout(() => act.scrub(Number(scrub.dataset.k ? JSON.parse(scrub.dataset.k)[scrub.value]
      : scrub.value)), 120);
  });
  live.addEventListener('click', () => act.live());

  root.append(
    h('div', { class: 'lab-settings' }, ...fields),
    h('div', { class: 'button-row lab-buttons' }, start, pause, resume, stop),
    status, bar,
    h('div', { class: 'lab-curves' }, lossEl, accEl),
    h('div', { class: 'lab-pictures' },
      h('figure', { class: 'lab-figure' }, h('figcaption', { class: 'mini-title' }, 'First layer’s filters'),
        filters, filtersCaption,
        h('div', { class: 'lab-scrub-row' }, scrubLabel, scrub, live)),
      h('figure', { class: 'lab-figure' }, h('figcaption', { class: 'mini-title' },
        'A test digit’s feature maps in that layer'), h('div', { class: 'lab-probe-row' }, probe, maps),
      probeCaption)));

  let plotted = null; // the job whose curves are drawn, and how many points of each series they hold
  const Plotly = window.Plotly;

  function drawCurves(job) {
    const c = job?.curves;
    if (!job || plotted?.id !== job.id) {
      plotted = { id: job?.id, n: 0, v: 0 };
      const trace = (name, color, mode) => ({ x: [], y: [], name, mode, line: { color, width: 2 },
        marker: { color, size: 8 } });
      const config = { displaylogo: false, responsive: true, displayModeBar: false };
      Plotly.newPlot(lossEl, [trace('training', TRAIN, 'lines'), trace('validation', VAL, 'markers')],
        curveLayout('Loss (cross-entropy)', 'loss'), config);
      Plotly.newPlot(accEl, [trace('training', TRAIN, 'lines'), trace('validation', VAL, 'markers')],
        curveLayout('Accuracy', 'accuracy', [0, 1]), config);
      if (!job) return;
    }
    const n = c.step.length, v = c.valStep.length;
    if (n > plotted.n) {
      const x = [c.step.slice(plotted.n)];
      Plotly.extendTraces(lossEl, { x, y: [c.loss.slice(plotted.n)] }, [0]);
      Plotly.extendTraces(accEl, { x, y: [c.accuracy.slice(plotted.n)] }, [0]);
    }
    if (v > plotted.v) {
      const x = [c.valStep.slice(plotted.v)];
      Plotly.extendTraces(lossEl, { x, y: [c.valLoss.slice(plotted.v)] }, [1]);
      Plotly.extendTraces(accEl, { x, y: [c.valAccuracy.slice(plotted.v)] }, [1]);
    }
    plotted.n = n;
    plotted.v = v;
  }

  let shown = {};
  return {
    /** @param {ReturnType<import('./state.js').initialLab>} lab */
    update(lab) {
      const job = lab.job;
      for (const s of SETTINGS) {
        const want = String(lab.settings[s.name]);
        if (document.activeElement !== inputs[s.name] && inputs[s.name].value !== want) inputs[s.name].value = want;
      }
      optimizer.value = lab.settings.optimizer;
      augment.checked = lab.settings.augment;
      inputs.momentum.disabled = lab.settings.optimizer === 'adam';
      const ended = !job || jobEnded(job);
      start.disabled = lab.busy || !ended || !lab.check?.ok;
      start.textContent = job && ended ? 'Train again' : 'Start training';
      pause.disabled = !job || job.state !== 'running';
      resume.disabled = !job || job.state !== 'paused';
      stop.disabled = ended;
      status.textContent = progressText(job);
      status.dataset.state = job?.state || 'none';
      const st = job?.started, p = job?.progress;
      bar.max = st?.total_steps || 1;
      bar.value = job?.state === 'done' ? bar.max : p?.step || 0;
      drawCurves(job);

      // filters: the checkpoint chosen on the scrubber, else the latest snapshot
      const cps = job?.checkpoints || [];
      scrub.max = String(Math.max(0, cps.length - 1));
      scrub.disabled = cps.length < 2;
      scrub.dataset.k = JSON.stringify(cps.map((c) => c.k));
      const cp = lab.checkpoint;
      if (cp && document.activeElement !== scrub) scrub.value = String(Math.max(0, cps.findIndex((c) => c.k === cp.k)));
      else if (!cp && cps.length) scrub.value = scrub.max;
      live.hidden = !cp;
      const snap = job?.snapshot;
      const kernels = cp?.kernels || snap?.kernels || null;
      if (kernels !== shown.kernels) {
        shown.kernels = kernels;
        if (kernels) {
          paintGrid(filters, kernels, { shared: true, label: (f) => `filter ${f}` });
          filters.dataset.step = String(cp ? cp.step : snap.step);
          filters.dataset.source = cp ? `checkpoint-${cp.k}` : 'live';
        } else filters.replaceChildren();
      }
      scrubLabel.textContent = cps.length < 2 ? 'Checkpoints (as the run saves them)'
        : `Checkpoint ${scrub.value} of ${cps.length - 1}`;
      filtersCaption.textContent = !job ? 'Random at the start; watch them take shape as the run learns.'
        : cp ? (cp.kernels ? `At checkpoint ${cp.k}: epoch ${cp.epoch}, step ${cp.step} · blue < 0 < red, one scale`
          : 'Loading the checkpoint…')
          : snap ? (snap.kernels ? `Step ${snap.step}${ended ? ' (the end)' : ', live'} · blue < 0 < red, one scale`
            : 'This network has no convolution: no filters to show.') : 'Waiting for the first snapshot…';

      if (st !== shown.started) {
        shown.started = st;
        probe.replaceChildren(...(st?.probe ? [digitCanvas(st.probe.image.data, { 'aria-label':
          `The probe digit, a ${st.probe.label}`, role: 'img', class: 'pixelated lab-probe-digit' })] : []));
      }
      if (snap !== shown.snap) {
        shown.snap = snap;
        if (snap?.feature_maps) paintGrid(maps, snap.feature_maps, { shared: false, label: (f) => `map ${f}` });
        else maps.replaceChildren();
        if (snap) {
          const pr = Array.from(snap.probabilities.data);
          const best = pr.indexOf(Math.max(...pr));
          probeCaption.textContent = `Step ${snap.step}: the network reads the ${st?.probe?.label ?? '?'} as a ${best}`
            + ` (${fmt(100 * pr[best], 3)} %) · each map on its own scale`;
        } else probeCaption.textContent = '';
      }
      if (!job) { shown = {}; maps.replaceChildren(); filters.replaceChildren(); probe.replaceChildren(); }
    },
  };
}
