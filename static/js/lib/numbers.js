// Small pieces for showing arithmetic: a number with its exact value kept in data-value, an equation line, a list of
// the largest terms of a sum.

import { h } from './dom.js';
import { fmt } from './format.js';

/**
 * @param {number} x  @param {{digits?: number, testid?: string, cls?: string}} [o]
 * @returns {HTMLElement} <span class="num" data-value="x">formatted</span>; the title shows more digits
 */
export function num(x, o = {}) {
  return h('span', { class: `num ${o.cls || ''}`.trim(), 'data-value': String(x), 'data-testid': o.testid,
    title: Number.isFinite(x) ? String(x) : undefined }, fmt(x, o.digits ?? 6));
}

/** A display equation, e.g. eq('δ', '=', num(0.1)). @param {...any} parts */
export function eq(...parts) {
  const glued = (p) => typeof p === 'string' && /^[),.;:]/.test(p); // no space before closing punctuation
  return h('p', { class: 'eq-line' }, ...parts.flatMap((p, i) => (i && !glued(p) ? [' ', p] : [p])));
}

/** A formula in words and symbols, set apart. @param {string} text @param {string} [source] where it comes from */
export function formula(text, source) {
  return h('div', { class: 'formula', 'data-testid': 'explain-formula' }, h('span', {}, text),
    source ? h('span', { class: 'source' }, source) : null);
}

/**
 * The largest terms of a sum and its total: "0.12·0.5 + (−0.3)·0.1 + … (25 terms) = 0.031".
 * @param {object[]} terms sorted by |product|  @param {(t: object) => Node[]} render one term as nodes
 * @param {number} count all terms, zeros included  @param {number} total  @param {string} [testid]
 */
export function sumLine(terms, render, count, total, testid) {
  const shown = terms.slice(0, 3);
  const parts = [];
  shown.forEach((t, k) => {
    if (k) parts.push(' + ');
    parts.push(...render(t));
  });
  const rest = count - shown.length;
  if (rest > 0) parts.push(` + … (${count} terms, ${terms.length} non-zero)`);
  if (!shown.length) parts.push(`0 (all ${count} terms are 0)`);
  return h('p', { class: 'eq-line sum-line' }, ...parts, ' = ', num(total, { testid, cls: 'strong' }));
}

/** "(2, 13, 7)" for an index. @param {number[]} idx */
export function at(idx) {
  return `(${idx.join(', ')})`;
}
