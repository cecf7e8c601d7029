// The architecture editor: a preset picker, then one row per layer (its type, its settings, its output shape and
// parameters as the server's spec check computes them, or its error with the numbers), each row moved up or down or
// removed with buttons; a layer added at the end. Rows are kept by key, so typing in a field never loses focus.

import { h, replace } from '../lib/dom.js';
import { thousands } from '../lib/format.js';
import { FIELDS, LAYER_TYPES } from './state.js';

const shapeText = (s) => s.join('×');

/**
 * @param {HTMLElement} root
 * @param {ReturnType<import('./actions.js').createLabActions>} act
 */
export function createEditorView(root, act) {
  const preset = h('select', { id: 'lab-preset', 'data-testid': 'lab-preset' });
  const presetNote = h('p', { class: 'hint lab-preset-note' });
  const list = h('ol', { class: 'lab-rows', 'data-testid': 'lab-layers', 'aria-label': 'Layers, from the input' });
  const addType = h('select', { id: 'lab-add-type', 'aria-label': 'Type of the layer to add' },
    ...Object.keys(LAYER_TYPES).map((t) => h('option', { value: t }, t)));
  const add = h('button', { type: 'button', class: 'small', 'data-testid': 'lab-add' }, '+ Add layer');
  const summary = h('p', { class: 'lab-summary', role: 'status', 'data-testid': 'lab-summary' });
  const problems = h('ul', { class: 'lab-problems' });
  root.append(
    h('div', { class: 'field-row' }, h('label', { for: 'lab-preset' }, 'Start from'), preset), presetNote,
    h('p', { class: 'lab-input-row' }, h('span', { class: 'lab-idx' }, 'in'), ' input 1×28×28 (an MNIST digit)'),
    list,
    h('div', { class: 'field-row lab-add-row' }, addType, add),
    summary, problems);
  preset.addEventListener('change', () => act.preset(preset.value));
  add.addEventListener('click', () => act.add(addType.value));

  /** @type {Map<number, {el: HTMLElement, inputs: Record<string, HTMLInputElement>, type: HTMLSelectElement,
   *   index: HTMLElement, shape: HTMLElement, params: HTMLElement, error: HTMLElement, up: HTMLButtonElement,
   *   down: HTMLButtonElement, remove: HTMLButtonElement}>} */
  const rowsByKey = new Map();
  let rows = [];
  const indexOf = (key) => rows.findIndex((r) => r.key === key);

  function makeRowView(row) {
    const key = row.key;
    const type = h('select', { class: 'lab-type' },
      ...Object.keys(LAYER_TYPES).map((t) => h('option', { value: t, selected: t === row.type }, t)));
    type.addEventListener('change', () => act.type(indexOf(key), type.value));
    const inputs = {};
    const fields = Object.keys(LAYER_TYPES[row.type]).map((name) => {
      const f = FIELDS[name];
      const input = h('input', { type: 'number', min: f.min, max: f.max, step: f.step, inputmode: 'decimal',
        value: row[name], 'data-field': name });
      input.addEventListener('input', () => {
        if (input.value !== '') act.field(indexOf(key), name, Number(input.value));
      });
      inputs[name] = input;
      return h('label', { class: 'lab-field' }, h('span', {}, f.label), input);
    });
    const up = h('button', { type: 'button', class: 'small quiet icon', 'data-testid': 'lab-up' }, '↑');
    const down = h('button', { type: 'button', class: 'small quiet icon', 'data-testid': 'lab-down' }, '↓');
    const remove = h('button', { type: 'button', class: 'small quiet icon', 'data-testid': 'lab-remove' }, '✕');
    up.addEventListener('click', () => act.move(indexOf(key), -1));
    down.addEventListener('click', () => act.move(indexOf(key), 1));
    remove.addEventListener('click', () => act.remove(indexOf(key)));
    const index = h('span', { class: 'lab-idx' });
    const shape = h('span', { class: 'lab-shape', 'data-testid': 'lab-shape' });
    const params = h('span', { class: 'lab-params', 'data-testid': 'lab-params' });
    const error = h('p', { class: 'lab-error', 'data-testid': 'lab-error', hidden: true });
    const el = h('li', { class: 'lab-row' },
      h('div', { class: 'lab-row-main' }, index, type, h('span', { class: 'lab-fields' }, ...fields),
        h('span', { class: 'lab-out' }, shape, params),
        h('span', { class: 'lab-moves' }, up, down, remove)),
      error);
    return { el, inputs, type, index, shape, params, error, up, down, remove };
  }

  return {
    /** @param {ReturnType<import('./state.js').initialLab>} lab */
    update(lab) {
      if (preset.options.length !== lab.presets.length + 1) {
        replace(preset, h('option', { value: '' }, 'your own (edited)'),
          ...lab.presets.map((p) => h('option', { value: p.name }, `${p.description.split(':')[0]} (${p.name})`)));
      }
      preset.value = lab.preset;
      const chosen = lab.presets.find((p) => p.name === lab.preset);
      presetNote.textContent = chosen ? chosen.description : 'Edit any layer; shapes and parameters follow as you type.';

      const active = document.activeElement;
      rows = lab.rows;
      const keep = new Set(rows.map((r) => r.key));
      for (const [key, v] of rowsByKey) if (!keep.has(key)) { v.el.remove(); rowsByKey.delete(key); }
      const check = lab.check && lab.check.layers.length === rows.length ? lab.check : null;
      rows.forEach((row, i) => {
        let v = rowsByKey.get(row.key);
        if (!v) { v = makeRowView(row); rowsByKey.set(row.key, v); }
        if (list.children[i] !== v.el) list.insertBefore(v.el, list.children[i] || null);
        for (const [name, input] of Object.entries(v.inputs)) {
          if (input !== active && Number(input.value) !== row[name]) input.value = row[name];
          input.setAttribute('aria-label', `Layer ${i} ${row.type} ${FIELDS[name].label}`);
        }
        v.el.dataset.testid = `lab-layer-${i}`;
        v.el.setAttribute('data-testid', `lab-layer-${i}`);
        v.index.textContent = String(i);
        v.type.setAttribute('aria-label', `Layer ${i} type`);
        v.up.setAttribute('aria-label', `Move layer ${i} (${row.type}) up`);
        v.down.setAttribute('aria-label', `Move layer ${i} (${row.type}) down`);
        v.remove.setAttribute('aria-label', `Remove layer ${i} (${row.type})`);
        v.up.disabled = i === 0;
        v.down.disabled = i === rows.length - 1;
        const c = check?.layers[i];
        v.shape.textContent = c?.output_shape ? `→ ${shapeText(c.output_shape)}` : c ? '→ ?' : '…';
        v.params.textContent = c?.params != null ? `${thousands(c.params)} params` : '';
        v.error.hidden = !c?.error;
        v.error.textContent = c?.error || '';
        v.el.classList.toggle('is-bad', !!c?.error);
        v.el.classList.toggle('is-unchecked', !!c && !c.checked);
      });
      // a moved row was taken out and put back: its button keeps the focus
      if (active && active !== document.activeElement && root.contains(active)) active.focus();

      if (!rows.length) summary.textContent = 'No layers: add one, or start from a preset.';
      else if (!lab.check) summary.textContent = 'Checking…';
      else {
        const total = lab.check.total_params;
        summary.textContent = `${total != null ? `${thousands(total)} parameters` : 'Parameters unknown'} (at most `
          + `${thousands(lab.check.max_params)})` + (lab.check.ok ? ' · ready to train' : ' · fix the errors to train');
      }
      summary.classList.toggle('is-bad', !!lab.check && !lab.check.ok);
      // errors of the whole network (not 10 classes, over the limit); a layer's own show at its row
      const own = new Set((lab.check?.layers || []).filter((L) => L.error).map((L) => L.error));
      replace(problems, ...(lab.check?.errors || []).filter((e) => ![...own].some((o) => e.endsWith(o)))
        .map((e) => h('li', {}, e)));
    },
  };
}
