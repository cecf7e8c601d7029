// "Verify gradient": backward's ∂E/∂w against centred finite differences (E(w+ε) − E(w−ε)) / 2ε for a few sampled
// weights of one parameter, with their relative errors.

import { h, replace } from '../lib/dom.js';
import { fmt } from '../lib/format.js';
import { num } from '../lib/numbers.js';

// The rule, stated on the page beside every verdict, and the verdict follows it.
const RIGHT_BELOW = 1e-7;
const RIGHT_BELOW_TEXT = '10⁻⁷';
const RULE = `Rule: backward is right when the relative error is below ${RIGHT_BELOW_TEXT}, or when every difference `
  + 'is within 4 × the resolution of the finite differences (then it is noise, not error).';

/**
 * @param {HTMLElement} root
 * @param {{params: string[], onCheck: (param: string, samples: number) => Promise<object>}} o
 */
export function createGradcheckView(root, { params, onCheck }) {
  const select = h('select', { id: 'gc-param', 'data-testid': 'gradcheck-param', 'aria-label': 'Parameter to check' },
    ...params.map((p) => h('option', { value: p }, p)));
  const samples = h('input', { type: 'number', id: 'gc-samples', value: '8', min: '1', max: '64', step: '1',
    'aria-label': 'How many weights to sample', 'data-testid': 'gradcheck-samples' });
  const button = h('button', { type: 'button', 'data-testid': 'gradcheck' }, 'Verify gradient');
  const status = h('p', { class: 'gc-status', role: 'status' });
  const note = h('p', { class: 'hint', 'data-testid': 'gradcheck-rule' });
  const table = h('table', { class: 'gc-table', 'data-testid': 'gradcheck-table', hidden: true });
  root.append(
    h('p', {}, 'For a few weights w, compare ∂E/∂w from the backward pass with the slope measured by nudging w: '
      + '(E(w + ε) − E(w − ε)) / 2ε, ε = 10⁻⁶. Over the sampled weights, a relative error below 10⁻⁷ means the '
      + 'backward pass is right.'),
    h('div', { class: 'field-row' }, h('label', { for: 'gc-param' }, 'Parameter'), select,
      h('label', { for: 'gc-samples' }, 'Samples'), samples, button),
    status, note, h('div', { class: 'table-scroll' }, table));

  button.addEventListener('click', async () => {
    const n = Math.max(1, Math.min(64, Math.round(Number(samples.value) || 8)));
    button.disabled = true;
    status.textContent = 'Checking…';
    try {
      const r = await onCheck(select.value, n);
      const verdict = r.relative_error;
      const res = r.resolution ?? 0;
      // Finite differences resolve a gradient only to about `res`: differences within it are noise, not error.
      const withinNoise = res > 0 && r.entries.every((e) => Math.abs(e.analytic - e.numerical) <= 4 * res);
      const tooSmall = res > 0 && r.entries.every((e) => Math.abs(e.analytic) <= 100 * res);
      // The verdict follows exactly the rule the page states (RULE): one of its two clauses, or it disagrees.
      let judgement;
      if (withinNoise && tooSmall) {
        judgement = h('span', { class: 'hint' }, ': every gradient here is as small as the resolution below, so this '
          + 'sample cannot judge (is the loss near 0? try another target or Reset)');
      } else if (verdict < RIGHT_BELOW) {
        judgement = h('span', { class: 'ok' }, `✓ backward is right (below ${RIGHT_BELOW_TEXT})`);
      } else if (withinNoise) {
        judgement = h('span', { class: 'ok' }, '✓ backward is right (every difference is within the noise of the '
          + 'finite differences)');
      } else {
        judgement = h('span', { class: 'bad' }, `✗ they disagree: not below ${RIGHT_BELOW_TEXT}, and not within the `
          + 'noise');
      }
      status.replaceChildren(`${r.entries.length} weights of ${r.param}: ‖analytic − numerical‖ / (‖analytic‖ + `
        + '‖numerical‖) = ', num(verdict, { digits: 3, testid: 'gradcheck-verdict' }), ' ', judgement);
      note.textContent = `${RULE} ` + (res ? `Finite differences resolve gradients to about ${fmt(res, 2)} here `
        + '(float64 rounding of E divided by 2ε).' : '');
      table.hidden = false;
      replace(table,
        h('thead', {}, h('tr', {}, ...['index', 'analytic ∂E/∂w', 'numerical', '|difference|', 'relative'].map(
          (t) => h('th', { scope: 'col' }, t)))),
        h('tbody', {}, ...r.entries.map((e) => {
          const abs = e.absolute_error ?? Math.abs(e.analytic - e.numerical);
          const noise = res && abs <= 4 * res;
          return h('tr', {},
            h('td', { class: 'idx' }, `(${e.index.join(', ')})`), h('td', {}, num(e.analytic, { digits: 9 })),
            h('td', {}, num(e.numerical, { digits: 9 })),
            h('td', { class: noise ? 'ok' : '' }, num(abs, { digits: 2 }), noise ? ' ≈ noise' : ''),
            h('td', { class: 'muted' }, num(e.relative_error, { digits: 2 })));
        })));
    } catch (err) {
      status.textContent = err.message;
    } finally {
      button.disabled = false;
    }
  });
  return {
    update() {},
    /** The parameters of another architecture (a network trained in the lab). @param {string[]} names */
    setParams(names) {
      replace(select, ...names.map((p) => h('option', { value: p }, p)));
      status.textContent = '';
      table.hidden = true;
    },
  };
}
