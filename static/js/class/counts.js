// How many students' drawings the network reads as each digit: a Plotly bar chart (newPlot once, then react, through
// lib/plot.js, which also themes it) and the same ten numbers as text, for a screen reader and for a glance. Drawn
// at most every 300 ms: a class drawing at once changes the counts many times a second.

import { h } from '../lib/dom.js';
import { baseLayout, createPlot } from '../lib/plot.js';

const DIGITS = Array.from({ length: 10 }, (_, k) => k);
const REDRAW_MS = 300;

/**
 * Count the students' predictions. @param {Record<string, {prediction: number|null}>} students
 * @returns {number[]} (10,)
 */
export function countPredictions(students) {
  const counts = DIGITS.map(() => 0);
  for (const t of Object.values(students)) {
    if (Number.isInteger(t.prediction) && t.prediction >= 0 && t.prediction < 10) counts[t.prediction] += 1;
  }
  return counts;
}

/**
 * @param {HTMLElement} root
 * @returns {{update(s: object, prev?: object): void}}  s: the teacher page's state (teacher.js)
 */
export function createCounts(root) {
  const plotEl = h('div', { class: 'plot counts-plot' });
  const cells = DIGITS.map((k) => h('dd', { 'data-testid': `count-${k}` }, '0'));
  // the bars carry their numbers; the list says them to a screen reader, which reads little of a Plotly figure
  const list = h('dl', { class: 'counts-list visually-hidden', 'data-testid': 'counts' },
    DIGITS.map((k) => h('div', {}, h('dt', {}, String(k)), cells[k])));
  const total = h('p', { class: 'caption', 'data-testid': 'counts-total' });
  root.append(plotEl, list, total);
  const plot = createPlot(plotEl, { filename: 'class-predictions', title: 'Predicted digits in the class' });
  let timer = null, latest = null;

  function draw() {
    timer = null;
    const counts = countPredictions(latest.students);
    const n = counts.reduce((a, b) => a + b, 0);
    cells.forEach((c, k) => { c.textContent = String(counts[k]); });
    total.textContent = n ? `${n} drawing${n === 1 ? '' : 's'} read; the bars count each digit.`
      : 'No drawings yet.';
    const top = Math.max(...counts);
    plot.show({
      data: [{ type: 'bar', x: DIGITS.map(String), y: counts, marker: { color: '#3b6fb6' },
        text: counts.map((c) => (c ? String(c) : '')), textposition: 'outside', cliponaxis: false,
        hovertemplate: 'read as %{x}: <b>%{y}</b><extra></extra>' }],
      layout: baseLayout({
        margin: { l: 34, r: 8, t: 18, b: 36 }, plot_bgcolor: '#ffffff', bargap: 0.2,
        xaxis: { type: 'category', fixedrange: true, title: { text: 'predicted digit', standoff: 4 } },
        yaxis: { fixedrange: true, rangemode: 'tozero', range: [0, Math.max(1, top) * 1.2], dtick: top > 10 ? null : 1,
          gridcolor: '#e5e7eb', zeroline: true, zerolinecolor: '#888' },
      }),
    });
  }

  return {
    update(s, prev) {
      if (prev && s.students === prev.students) return;
      latest = s;
      if (timer === null) timer = setTimeout(draw, prev ? REDRAW_MS : 0);
    },
  };
}
