// Backpropagation controls: the target label, the loss, Forward / Backward one layer / Run to the end / Reset, and
// where the walk is.

import { h } from '../lib/dom.js';
import { fmt } from '../lib/format.js';
import { passRevealed, reachedCount } from '../state.js';

/**
 * @param {HTMLElement} root
 * @param {{labels: string[], losses: string[], onTarget: Function, onLoss: Function, onForward: Function,
 *   onStep: Function, onRun: Function, onReset: Function, onPrev: Function}} on
 */
export function createControlsView(root, on) {
  const target = h('select', { id: 'target', 'data-testid': 'target', 'aria-label': 'Target label' },
    ...on.labels.map((l, k) => h('option', { value: k }, l)));
  const loss = h('select', { id: 'loss-name', 'data-testid': 'loss-name', 'aria-label': 'Loss function' },
    ...on.losses.map((l) => h('option', { value: l }, l === 'cross_entropy' ? 'cross-entropy' : 'squared error')));
  const lossOut = h('output', { class: 'loss-value', 'data-testid': 'loss', 'aria-live': 'polite' }, '–');
  const targetNote = h('span', { class: 'hint' });
  // short: the label the phone's step bar shows (app.css); the full text stays the button's name
  const btn = (testid, text, title, fn, cls = '', short = text) => h('button', { type: 'button', 'data-testid': testid,
    title, class: cls, onclick: fn, 'data-short': short }, text);
  const forward = btn('forward', 'Forward', 'Run the drawing forward through every layer', on.onForward, 'quiet');
  const step = btn('backward-step', 'Backward one layer ▸', 'Backpropagate one layer further, from the loss towards the '
    + 'input (→ or n)', on.onStep, 'primary', 'Backward ▸');
  const run = btn('backward-run', 'Run to the end ▸▸', 'Backpropagate through all remaining layers', on.onRun, '',
    'Run ▸▸');
  const reset = btn('reset', 'Reset weights', 'Return to the pretrained weights and clear the updates', on.onReset,
    'quiet', 'Reset');
  const progress = h('p', { class: 'progress', 'data-testid': 'progress', 'aria-live': 'polite' });
  root.append(
    h('div', { class: 'field-row' }, h('label', { for: 'target' }, 'Target'), target, targetNote),
    h('div', { class: 'field-row' }, h('label', { for: 'loss-name' }, 'Loss'), loss,
      h('p', { class: 'loss-line' }, h('span', { class: 'eq' }, 'E = '), lossOut)),
    h('div', { class: 'button-row' }, step, run),
    h('div', { class: 'button-row' }, btn('backward-prev', '◂ Previous layer', 'Review the layer above (← or p)',
      on.onPrev, 'quiet', '◂ Back'), forward, reset),
    progress,
    h('p', { class: 'keys' }, 'Keys: ', h('kbd', {}, '→'), '/', h('kbd', {}, 'n'), ' next layer · ', h('kbd', {}, '←'),
      '/', h('kbd', {}, 'p'), ' previous · ', h('kbd', {}, 'r'), ' run to the end'),
  );
  target.addEventListener('change', () => on.onTarget(Number(target.value)));
  loss.addEventListener('change', () => on.onLoss(loss.value));

  return {
    /** @param {{forward: object|null, backward: object, target: number|null, cursor: number|null, model: object,
     *   lossValue: {value: number, formula: string}|null, waiting: boolean, busy: Record<string, boolean>}} s
     *   waiting: the pass asked for has not arrived yet */
    update(s) {
      const names = s.model.class_labels;
      if (names.length !== target.options.length || names.some((l, k) => target.options[k].text !== l)) {
        target.replaceChildren(...names.map((l, k) => h('option', { value: k }, l))); // another network's classes
      }
      const t = s.target ?? s.forward?.prediction ?? 0;
      if (String(t) !== target.value) target.value = String(t);
      targetNote.textContent = s.target === null ? '= prediction' : 'chosen';
      targetNote.title = s.target === null ? 'The target follows the prediction; pick another label to see what '
        + 'backpropagation does when the network is wrong.' : 'Your choice; a new drawing returns to the prediction.';
      if (loss.value !== s.backward.lossName) loss.value = s.backward.lossName;
      lossOut.textContent = s.lossValue ? `${s.lossValue.formula} = ${fmt(s.lossValue.value, 6)}` : '–';
      lossOut.dataset.value = s.lossValue ? String(s.lossValue.value) : '';
      const hasInput = !!s.forward;
      const b = s.backward;
      const done = passRevealed(b);
      forward.disabled = !hasInput || s.busy.forward;
      step.disabled = !hasInput || (done && s.cursor === 0) || s.waiting;
      run.disabled = !hasInput || (done && s.cursor === 0);
      const layers = s.model.layers;
      if (!hasInput) progress.textContent = 'Draw a digit first.';
      else if (b.status === 'none') progress.textContent = `Backward starts at the loss, then ${layers.at(-1).name}`
        + ` (layer ${layers.length - 1}); ${layers.length} layers to the input.`;
      else {
        const reached = reachedCount(b);
        const cur = s.cursor !== null ? layers[s.cursor] : null;
        progress.textContent = `${reached} of ${layers.length} layers reached`
          + (cur ? ` · showing layer ${cur.index}: ${cur.name} (${cur.kind})` : '')
          + (done && reached === layers.length ? ' · the error has reached the input' : '');
      }
    },
  };
}
