// The prediction, large, and the ten class probabilities as bars (the target outlined; click a bar to pick it).

import { h } from '../lib/dom.js';
import { pct } from '../lib/format.js';
import { createBars } from './bars.js';

const INK = '#1f4e8c', PALE = '#9db4d3';

/**
 * @param {HTMLElement} root  @param {{labels: string[], onPick: (k: number) => void, onReset?: () => void}} opts
 * @returns {{update: (d: {forward: object|null, target: number|null, labels?: string[]}) => Promise<void>}}
 *   labels: the classes of the network the session runs now (an uploaded model names its own), else opts.labels
 */
export function createPredictionView(root, { labels: initialLabels, onPick, onReset }) {
  const digit = h('div', { class: 'prediction-digit', 'data-testid': 'prediction', 'aria-live': 'polite' }, '–');
  const words = h('p', { class: 'confidence' }, 'Draw a digit to see what the network thinks.');
  // Said beside the prediction, since it is what the steps changed: these are no longer the pretrained weights.
  const stepsText = h('span', {});
  const resetLink = h('button', { type: 'button', class: 'link-button', 'data-testid': 'badge-reset' },
    'back to the pretrained weights');
  const badge = h('p', { class: 'weights-badge', 'data-testid': 'weights-badge', hidden: true }, stepsText, ' · ',
    resetLink);
  resetLink.addEventListener('click', () => onReset?.());
  const probsBox = h('div', { class: 'probs', 'data-testid': 'probabilities' });
  root.append(h('div', { class: 'prediction-box' }, h('span', { class: 'mini-title' }, 'Prediction'), digit, words,
    badge), probsBox);
  const bars = createBars(probsBox, { title: 'Class probabilities (softmax)', filename: 'probabilities',
    xTitle: 'class', height: 190 });
  bars.onBar((k) => onPick(k));
  let last = null;

  return {
    update({ forward, target, labels = initialLabels, steps = 0 }) {
      badge.hidden = !steps;
      stepsText.textContent = `Weights changed by ${steps} step${steps === 1 ? '' : 's'}`;
      if (!forward) { // cleared: no input, so no probabilities and no target either
        digit.textContent = '–';
        digit.dataset.value = '';
        words.textContent = 'Draw a digit to see what the network thinks.';
        probsBox.classList.add('is-stale');
        if (last === null) return Promise.resolve();
        last = null;
        return bars.update({ labels, yrange: [0, 1.05], caption: 'draw a digit: its probabilities appear here',
          traces: [{ y: labels.map(() => 0), name: 'p', marker: { color: PALE }, hover: 'class %{x}<extra></extra>' }] });
      }
      probsBox.classList.remove('is-stale');
      const p = forward.probabilities;
      digit.textContent = labels[forward.prediction];
      digit.dataset.value = String(forward.prediction);
      words.textContent = `${pct(p[forward.prediction])} sure`;
      if (last && last.p === p && last.target === target && last.labels === labels) return Promise.resolve();
      last = { p, target, labels };
      return bars.update({
        labels,
        yrange: [0, 1.05],
        caption: target === null ? 'click a bar to make it the target' : `target ${labels[target]} outlined`,
        traces: [{
          y: p, name: 'p',
          marker: {
            color: p.map((_, k) => (k === forward.prediction ? INK : PALE)),
            line: { color: p.map((_, k) => (k === target ? '#d9480f' : 'rgba(0,0,0,0)')), width: 3 },
          },
          hover: 'class %{x}: p = <b>%{y:.6~g}</b><extra></extra>',
        }],
      });
    },
  };
}
