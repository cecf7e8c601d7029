// The training lab's panel: the architecture editor, training and its live views, and the results; wired to the
// store (state.lab) and to the visualizer, which follows the network the session runs. The lab asks the server for
// nothing until it is opened: a learner who never opens it costs no request.

import { h } from '../lib/dom.js';
import { createLabActions, rememberedJob } from './actions.js';
import { createEditorView } from './editor.js';
import { createModelSwitch } from './model.js';
import { createResultsView } from './results.js';
import { createTrainView } from './train.js';

/**
 * @param {HTMLElement} root
 * @param {{api: ReturnType<import('../api.js').createApi>, store: ReturnType<import('../state.js').createStore>,
 *   pad: object, applyForward: Function}} deps
 * @returns {{visualizer: ReturnType<typeof createModelSwitch>, actions: ReturnType<typeof createLabActions>}}
 */
export function createLab(root, { api, store, pad, applyForward }) {
  const visualizer = createModelSwitch({ api, store, pad, applyForward });
  const act = createLabActions({ api, store, visualizer });
  const message = h('p', { class: 'lab-message', role: 'alert', 'data-testid': 'lab-message', hidden: true });
  const editorBox = h('div', {});
  const trainBox = h('div', {});
  const resultsBox = h('div', {});
  const col = (id, n, title, lede, box) => h('section', { class: `lab-col lab-${id}`, 'aria-labelledby': `lab-${id}-h` },
    h('h3', { id: `lab-${id}-h`, class: 'lab-h' }, h('span', { class: 'lab-no' }, n), title),
    h('p', { class: 'hint' }, lede), box);
  const open = h('button', { type: 'button', class: 'primary', 'aria-expanded': 'false', 'aria-controls': 'lab-body',
    'data-testid': 'lab-open' }, 'Open the training lab');
  const body = h('div', { id: 'lab-body', hidden: true });
  root.append(h('div', { class: 'lab-intro' }, h('p', { class: 'lede' }, 'Put layers together, train them on MNIST '
    + 'on the server and watch the loss fall and the filters take shape; then walk the trained network’s backward '
    + 'pass above.'), open), body);
  body.append(message,
    h('div', { class: 'lab-main' },
      col('arch', 'a', 'Build a network', 'Layers run top to bottom on a 28×28 digit; the last must give 10 '
        + 'classes. Each layer’s output shape and weights come from the engine’s rules as you edit.', editorBox),
      col('train', 'b', 'Train it on MNIST', 'Small settings train in seconds on the server. Loss and accuracy are '
        + 'over the last few batches; validation (orange) on 2,000 held-out digits after each epoch.', trainBox)),
    col('results', 'c', 'What it learned', 'When the run ends: how it does on the test set, the digits it gets '
      + 'wrong, and the network itself.', resultsBox));
  const editor = createEditorView(editorBox, act);
  const train = createTrainView(trainBox, act);
  const results = createResultsView(resultsBox, act, { digit: (i) => act.digit(i), modelUrl: api.trainedModelUrl });

  function render(s) {
    body.hidden = !s.lab.open;
    open.setAttribute('aria-expanded', String(s.lab.open));
    open.textContent = s.lab.open ? 'Hide the training lab' : 'Open the training lab';
    editor.update(s.lab);
    train.update(s.lab);
    results.update(s.lab, s.trained);
    message.hidden = !s.lab.message;
    message.textContent = s.lab.message || '';
  }
  store.subscribe((s, prev) => { if (s.lab !== prev.lab || s.trained !== prev.trained) render(s); });
  render(store.get());

  open.addEventListener('click', () => act.toggle());
  if (rememberedJob()) act.toggle(); // reloaded while it trained: open the lab on that job again
  return { visualizer, actions: act };
}
