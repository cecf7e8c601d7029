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
import { createWhyView } from './views/why.js';
import { createInspectorView } from './views/inspector.js';
import { createLayerPanel } from './views/layerpanel.js';
import { createPredictionView } from './views/prediction.js';
import { createSheet } from './views/sheet.js';
import { createUpdateView } from './views/update.js';
import { createLab } from './lab/index.js';
import { createModelLoad, drawingFile, modelTakesImages } from './views/modelload.js';
import { createThemeSwitch } from './views/theme.js';
import { repaintAll } from './lib/plot.js';
import { createPageView } from './view.js';
import { createNotice, createShare } from './views/share.js';
import { createLessons } from './lessons/index.js';
import { createClassMode } from './class/student.js';

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
    // A model that is not a digit reader gets the drawing as an image, resized by the server, once a stroke ends.
    if (modelTakesImages(store.get().model) && reason !== 'clear' && !pad.isEmpty()) {
      later.cancel();
      if (reason !== 'move') actions.file(drawingFile(pad.pixels()));
      return;
    }
    if (reason === 'move') { later(); return; }
    later.cancel();
    actions.drawingChanged(reason);
  },
  onFile: (file) => { later.cancel(); actions.file(file); },
});

const panels = [];
let lab = null;
let modelLoad = null;
actions = createActions(api, store, {
  pad,
  // An uploaded model's input was made for it: the page sends its own again, for the served model.
  modelChanged: () => (store.get().model.source === 'uploaded' ? modelLoad.adopt() : lab.visualizer.adopt(null)),
  scrollTo(index) {
    const el = panels[index]?.element;
    if (!el) return;
    // On a phone the reached layer's backward maps come to the top, above the sheet and the step bar.
    if (sheet.isPhone()) el.querySelector('.col-bwd').scrollIntoView({ behavior: 'smooth', block: 'start' });
    else el.scrollIntoView({ behavior: 'smooth', block: 'nearest' });
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
const why = createWhyView($('input-steps'), $('input-view').querySelector('[data-testid=input-28]'), api);
const prediction = createPredictionView($('prediction'), { labels: model.class_labels,
  onPick: (k) => actions.target(k), onReset: () => actions.reset() });
const controls = createControlsView($('controls'), {
  labels: model.class_labels, losses: model.losses || ['cross_entropy'],
  onTarget: (t) => actions.target(t), onLoss: (l) => actions.lossName(l), onForward: () => actions.forward(),
  onStep: () => actions.next(), onRun: () => actions.run(), onReset: () => actions.reset(),
  onPrev: () => actions.prev(),
});
/** One panel per layer of `m`: built again when the session's architecture changes (the lab's trained network). */
function buildPanels(m) {
  panels.length = 0;
  $('layers').replaceChildren();
  for (const layer of m.layers) {
    panels.push(createLayerPanel($('layers'), {
      layer, model: m,
      onNeuron: (n) => actions.neuron(n),
      onSelect: (sel) => actions.select(sel),
      onKernels: () => { if (!Object.keys(store.get().params).length) actions.loadParams(); },
    }));
  }
}
buildPanels(model);
const explain = createExplainView($('explain-view'));
const inspector = createInspectorView($('inspector-view'), { onNeuron: (n) => actions.neuron(n) });
const sheet = createSheet({ bar: $('controls').closest('.card'), tabs: [
  { key: 'explain', label: 'This step', card: $('explain') },
  { key: 'inspector', label: 'Neuron inspector', card: $('inspector') }] });
const update = createUpdateView($('update-view'), {
  onApply: (lr, momentum) => actions.update(lr, momentum),
  labels: model.class_labels,
});
const weightNames = (m) => m.layers.filter((L) => L.params > 0).flatMap((L) => [`${L.name}.W`, `${L.name}.b`]);
const gradcheck = createGradcheckView($('gradcheck-view'), {
  params: weightNames(model),
  onCheck: (param, n) => actions.gradcheck(param, n),
});
$('export').href = api.exportUrl();
lab = createLab($('lab-view'), { api, store, pad, applyForward: actions.applyForward });
modelLoad = createModelLoad($('model-load'), {
  api, store,
  sendInput() {
    const s = store.get();
    if (modelTakesImages(s.model) && s.source?.kind !== 'file' && !pad.isEmpty()) {
      actions.file(drawingFile(pad.pixels()));
    } else actions.forward(); // a file again (the server preprocesses it for this model), or the drawing
  },
});

// What the page shows, as data (links, lesson cards and a teacher's pins set it); the lessons and class mode on top.
const view = createPageView({ store, actions, pad, update, openImage: (bytes) => lab.visualizer.openDigit(bytes) });
export const lessons = createLessons($('lesson-view'), { api, store, actions, view, lab, opener: $('lessons-slot') });
// Before share.openFromAddress(): a class member's rejoin sets the address's view aside for the class's place.
createClassMode($('class-bar'), { api, store, view, lessons, opener: $('class-slot') });
const arrival = samples.images.length ? { sample: Math.max(0, samples.labels.indexOf(7)) } : null;
const share = createShare($('share-slot'), { store, view, notice: createNotice($('page-notice')),
  defaultDigit: arrival });

// The steps are drawn while they are open; an uploaded file's are asked of the server then, and not on every change.
const stepsLater = debounce(() => { if (inputView.stepsOpen()) actions.inputSteps(); }, 400);

/** The header's summary of the network the session runs. @param {object} m  @param {string|null} trained */
function summarise(m, trained) {
  const what = m.source === 'uploaded' ? `Your model ${m.file}, reading ${m.input_shape.join('×')},`
    : trained ? 'A network trained in the lab' : 'A convolutional network';
  $('model-summary').textContent = `${what} of `
    + `${m.layers.length} layers and ${m.total_params.toLocaleString('en')} weights`;
}

store.subscribe((s, prev) => {
  if (s.model !== prev.model) {
    buildPanels(s.model);
    gradcheck.setParams(weightNames(s.model));
    summarise(s.model, s.trained);
  }
  if (s.forward !== prev.forward) {
    inputView.update(s.forward ? s.forward.input : null, s.forward?.input_warnings ?? []);
  }
  why.update(s);
  if (s.source !== prev.source && inputView.stepsOpen()) {
    if (s.source?.steps) inputView.updateSteps(s.source.steps);
    else stepsLater();
  }
  if (s.error !== prev.error) errorView.update(s.error);
  prediction.update({ forward: s.forward, target: s.target, labels: s.model.class_labels,
    steps: s.update?.steps ?? 0 });
  controls.update({ ...s, lossValue: lossValue(s), waiting: passWaiting(s) });
  for (const p of panels) p.update(s);
  explain.update(s);
  inspector.update(s);
  // On a phone a step opens the sheet on its explanation, a tapped cell on its numbers, a neuron on the inspector.
  if (s.cursor !== prev.cursor && s.cursor !== null) sheet.reveal('explain', { auto: true });
  else if (s.selection !== prev.selection && s.selection) sheet.reveal('explain');
  if (s.neuron !== prev.neuron && s.neuron) sheet.reveal('inspector');
  update.update(s);
});

// The page's keys never take a key from a control that has its own: a select's or a field's arrows, a heatmap's
// cell cursor (data-keys="own", views/heatmap.js).
document.addEventListener('keydown', (ev) => {
  if (ev.target.closest('input, select, textarea, [contenteditable], [data-keys=own]') || ev.altKey || ev.metaKey) {
    return;
  }
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
createThemeSwitch($('theme-switch'), { onChange: repaintAll });

// A session that runs another network than the served one (trained in the lab, or uploaded; the page was reloaded)
// shows that one: the page came with the served model, so the session's is read before its weights or an input
// are asked for (an uploaded model may read another shape and have other layers).
const outline = (m) => JSON.stringify([m.total_params, m.layers.map((L) => [L.name, L.kind, L.output_shape])]);
const running = await api.model().catch(() => model);
if (outline(running) !== outline(model) || running.source !== (model.source ?? 'served')) {
  store.set({ model: running, trained: running.source === 'trained' ? 'earlier' : null });
}
// The weights, once: every later change arrives with the step that made it.
actions.loadParams();
// A shared link's view; else, not empty on arrival: a sample digit, already through the network. From then on the
// address bar follows the page.
if (!(await share.openFromAddress())) {
  if (arrival) pad.loadSample(arrival.sample);
  else store.set({});
}
share.start();
