// Wires the views to the api and the store. Every view is createXView(root, callbacks) -> {update(...)}; main
// subscribes them to the state and turns their events into actions. The timing marks subscribe on their own.

import { createActions } from './actions/index.js';
import { createApi } from './api.js';
import { createStore, initialState, lossValue, passWaiting } from './state.js';
import { watchTiming } from './timing.js';
import { debounce } from './lib/scheduler.js';
import { createControlsView } from './views/controls.js';
import { createDrawPad } from './views/drawpad.js';
import { createExplainView } from './views/explain.js';
import { createGradcheckView } from './views/gradcheck.js';
import { createErrorView, createInputView } from './views/inputview.js';
import { createInspectorView } from './views/inspector.js';
import { createLayerPanel } from './views/layerpanel.js';
import { createPredictionView } from './views/prediction.js';
import { createUpdateView } from './views/update.js';

const page = JSON.parse(document.getElementById('page-data').textContent);
const model = page.model;
const $ = (id) => document.getElementById(id);

const api = createApi();
/** The page's state. Exported so that the browser tests can read what the page holds: import() of this module's URL
 * gives this same instance. */
export const store = createStore(initialState(model));
watchTiming(store);

let actions = null;
const later = debounce(() => actions.drawingChanged('move'), 150);
const samples = await fetch(page.samples).then((r) => r.json()).catch(() => ({ labels: [], images: [] }));
const pad = createDrawPad($('pad'), {
  samples,
  onChange(reason) {
    if (reason === 'move') { later(); return; }
    later.cancel();
    actions.drawingChanged(reason);
  },
  onFile: (file) => { later.cancel(); actions.file(file); },
});

const panels = [];
actions = createActions(api, store, {
  pad,
  scrollTo(index) {
    const el = panels[index]?.element;
    if (el) el.scrollIntoView({ behavior: 'smooth', block: 'nearest' });
  },
});

const inputView = createInputView($('input-view'), {
  onStepsOpen() {
    const source = store.get().source;
    if (source?.steps) inputView.updateSteps(source.steps);
    else actions.inputSteps();
  },
  stepsRoot: $('input-steps'),
});
const errorView = createErrorView($('input-view'));
const prediction = createPredictionView($('prediction'), { labels: model.class_labels,
  onPick: (k) => actions.target(k) });
const controls = createControlsView($('controls'), {
  labels: model.class_labels, losses: model.losses || ['cross_entropy'],
  onTarget: (t) => actions.target(t), onLoss: (l) => actions.lossName(l), onForward: () => actions.forward(),
  onStep: () => actions.next(), onRun: () => actions.run(), onReset: () => actions.reset(),
  onPrev: () => actions.prev(),
});
for (const layer of model.layers) {
  panels.push(createLayerPanel($('layers'), {
    layer, model,
    onNeuron: (n) => actions.neuron(n),
    onSelect: (sel) => actions.select(sel),
    onKernels: () => { if (!Object.keys(store.get().params).length) actions.loadParams(); },
  }));
}
const explain = createExplainView($('explain-view'));
const inspector = createInspectorView($('inspector-view'), { onNeuron: (n) => actions.neuron(n) });
const update = createUpdateView($('update-view'), {
  onApply: (lr, momentum) => actions.update(lr, momentum),
  labels: model.class_labels,
});
createGradcheckView($('gradcheck-view'), {
  params: model.layers.filter((L) => L.params > 0).flatMap((L) => [`${L.name}.W`, `${L.name}.b`]),
  onCheck: (param, n) => actions.gradcheck(param, n),
});
$('export').href = api.exportUrl();

// The steps are drawn while they are open; an uploaded file's are asked of the server then, and not on every change.
const stepsLater = debounce(() => { if (inputView.stepsOpen()) actions.inputSteps(); }, 400);

store.subscribe((s, prev) => {
  if (s.forward !== prev.forward) inputView.update(s.forward ? s.forward.input : null);
  if (s.source !== prev.source && inputView.stepsOpen()) {
    if (s.source?.steps) inputView.updateSteps(s.source.steps);
    else stepsLater();
  }
  if (s.error !== prev.error) errorView.update(s.error);
  prediction.update({ forward: s.forward, target: s.target });
  controls.update({ ...s, lossValue: lossValue(s), waiting: passWaiting(s) });
  for (const p of panels) p.update(s);
  explain.update(s);
  inspector.update(s);
  update.update(s);
});

document.addEventListener('keydown', (ev) => {
  if (ev.target.closest('input, select, textarea, [contenteditable]') || ev.altKey || ev.metaKey) return;
  if (ev.ctrlKey) {
    if (ev.key === 'z') { pad.undo(); ev.preventDefault(); }
    return;
  }
  const key = ev.key.toLowerCase();
  if (key === 'arrowright' || key === 'n') actions.next();
  else if (key === 'arrowleft' || key === 'p') actions.prev();
  else if (key === 'r') actions.run();
  else return;
  ev.preventDefault();
});

// The weights, once: every later change arrives with the step that made it.
actions.loadParams();
// Not empty on arrival: a sample digit, already through the network.
if (samples.images.length) pad.loadSample(samples.labels.indexOf(7) >= 0 ? samples.labels.indexOf(7) : 0);
else store.set({});
