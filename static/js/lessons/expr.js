// A lesson's numbers: answer expressions (`delta.conv2[0,3,4]`, `b.dense3[3] - lr * db.dense3[3]`) evaluated on the
// page's own state, the card's {placeholders} filled the same way, and a guess checked to 3 significant figures.
// The grammar is app/lesson_checks.py's, which checks every name against the served model before a lesson is served; here
// a name whose numbers the page does not hold yet evaluates to null (the card waits for them). Pure: no DOM, no store.

import { lossValue, targetOf } from '../state.js';
import { ravel } from '../lib/tensor.js';
import { fmt } from '../lib/format.js';

const TOKEN = /\s*(?:(\d+\.?\d*(?:[eE][-+]?\d+)?|\.\d+)|([A-Za-z_]\w*(?:\.\w+)*(?:\[[\d,\s]+\])?)|(\S))/y;

/** @typedef {{n: number} | {path: string, idx: number[]|null} | {op: string}} Token */

/** @param {string} src  @returns {Token[]} */
function tokenize(src) {
  const out = [];
  TOKEN.lastIndex = 0;
  while (TOKEN.lastIndex < src.trimEnd().length) {
    const m = TOKEN.exec(src);
    if (!m) break;
    if (m[1]) out.push({ n: Number(m[1]) });
    else if (m[2]) {
      const [name, rest] = m[2].split('[');
      out.push({ path: name, idx: rest ? rest.replace(']', '').split(',').map(Number) : null });
    } else out.push({ op: m[3] });
  }
  return out;
}

/**
 * The value of `src` given `read` (a path and its index → a number, or null when the page does not hold it yet).
 * expr := term (± term)*; term := unary (×/÷ unary)*; unary := −unary | power; power := atom (^ unary)?
 * @param {string} src  @param {(path: string, idx: number[]|null) => number|null} read  @returns {number|null}
 */
export function evaluate(src, read) {
  const tokens = tokenize(src);
  let k = 0;
  const peek = () => tokens[k]?.op;
  const fail = () => { throw new Error(`cannot read the expression ${src}`); };
  const lift = (a, b, f) => (a === null || b === null ? null : f(a, b));
  function atom() {
    const t = tokens[k++];
    if (!t) fail();
    if ('n' in t) return t.n;
    if ('path' in t) return read(t.path, t.idx);
    if (t.op !== '(') fail();
    const v = expr();
    if (tokens[k++]?.op !== ')') fail();
    return v;
  }
  function power() {
    const base = atom();
    if (peek() !== '^') return base;
    k++;
    return lift(base, unary(), Math.pow);
  }
  function unary() {
    if (peek() === '-') { k++; const v = unary(); return v === null ? null : -v; }
    return power();
  }
  function term() {
    let v = unary();
    while (peek() === '*' || peek() === '/') {
      const op = tokens[k++].op;
      v = lift(v, unary(), op === '*' ? (a, b) => a * b : (a, b) => a / b);
    }
    return v;
  }
  function expr() {
    let v = term();
    while (peek() === '+' || peek() === '-') {
      const op = tokens[k++].op;
      v = lift(v, term(), op === '+' ? (a, b) => a + b : (a, b) => a - b);
    }
    return v;
  }
  const v = expr();
  if (k !== tokens.length) fail();
  return v;
}

/** t[idx] of a tensor {shape, data}, or null without it. */
function at(t, idx) {
  if (!t || !idx) return null;
  return Number(t.data[ravel(idx, t.shape)]);
}

/**
 * How a path reads the page: the names of docs/lessons.md. `ctx.lr` is the card's learning rate; `ctx.update` the
 * step the card applied; `ctx.rows` the lab editor's rows.
 * @param {import('../state.js').State} s
 * @param {{lr?: number, momentum?: number}} card  the card's setup
 * @returns {(path: string, idx: number[]|null) => number|null}
 */
export function reader(s, card = {}) {
  const layers = s.model.layers;
  const layer = (name) => layers.find((L) => L.name === name);
  const pass = s.backward.status === 'ready' ? s.backward : null;
  const back = (name) => pass?.layers.find((L) => L.name === name);
  const f = s.forward;
  return (path, idx) => {
    const [head, a, b] = path.split('.');
    switch (head) {
      case 'loss': return f ? lossValue(s)?.value ?? null : null;
      case 'prediction': return f ? f.prediction : null;
      case 'target': return f ? targetOf(s) : null;
      case 'lr': return card.lr ?? null;
      case 'momentum': return card.momentum ?? 0;
      case 'probabilities': return f ? f.probabilities[idx[0]] : null;
      case 'input': return f ? at(f.input, idx.length === f.input.shape.length ? idx : idx.slice(1)) : null;
      case 'selected': return selectedValue(s);
      case 'out': return f ? at(f.layers[layer(a)?.index], idx) : null;
      case 'delta': return at(back(a)?.delta, idx);
      case 'dW': return at(back(a)?.grads.W, idx);
      case 'db': return at(back(a)?.grads.b, idx);
      case 'W': return at(s.params[a]?.W, idx);
      case 'b': return at(s.params[a]?.b, idx);
      case 'shape': return (a === 'input' ? s.model.input_shape : layer(a)?.output_shape)?.[idx[0]] ?? null;
      case 'model': return layer(a)?.[b] ?? null;
      case 'update': return s.update?.[a] ?? null;
      case 'lab': {
        const rows = s.lab.rows;
        if (a === 'count') return rows.length ? rows.filter((r) => r.type === b).length : null;
        return rows[Number(a)]?.[b] ?? null;
      }
      default: throw new Error(`unknown name ${path}`);
    }
  };
}

/** The value of the cell selected in a backward map, or null. @param {import('../state.js').State} s */
function selectedValue(s) {
  const sel = s.selection;
  const L = sel && s.backward.status === 'ready' && s.backward.layers.find((x) => x.index === sel.layer);
  if (!L) return null;
  if (sel.part === 'delta') return at(L.delta, sel.idx);
  if (sel.part === 'dW') return at(L.grads.W, sel.idx);
  if (sel.part === 'db') return at(L.grads.b, sel.idx);
  const below = s.backward.layers.find((x) => x.index === sel.layer - 1);
  return below ? at(below.delta, sel.idx) : null;
}

/**
 * `text` with each {expression} replaced by its value (4 significant digits), or "…" while the page lacks it.
 * @param {string} text  @param {(path: string, idx: number[]|null) => number|null} read  @returns {string}
 */
export function fill(text, read) {
  return text.replace(/\{([^{}]*)\}/g, (_, src) => {
    try {
      const v = evaluate(src, read);
      return v === null || Number.isNaN(v) ? '…' : fmt(v, 4);
    } catch {
      return `{${src}}`;
    }
  });
}

/**
 * A learner's typed number: "−0.25", "-2.5e-3", "1,5" (a decimal comma), " 12 ". NaN when it is not one.
 * @param {string} text  @returns {number}
 */
export function parseGuess(text) {
  const t = text.trim().replace(/\u2212/g, '-').replace(/\s/g, '').replace(/^([-+]?\d+),(\d+)$/, '$1.$2')
    .replace(/[×x]10\^?([-+]?\d+)$/, 'e$1');
  return t === '' || !/^[-+]?(\d+\.?\d*|\.\d+)(e[-+]?\d+)?$/i.test(t) ? NaN : Number(t);
}

/**
 * The verdict on a guess, checked to 3 significant figures: within half a unit of the answer's third significant
 * digit. An answer of exactly 0 takes 0 (or anything below 10⁻⁹ in size).
 * @param {number} guess  @param {number} answer
 * @returns {'right'|'sign'|'higher'|'lower'}
 */
export function verdict(guess, answer) {
  if (answer === 0) {
    if (Math.abs(guess) < 1e-9) return 'right';
    return guess > 0 ? 'lower' : 'higher';
  }
  const unit = 10 ** (Math.floor(Math.log10(Math.abs(answer))) - 2);
  if (Math.abs(guess - answer) <= unit / 2 * (1 + 1e-9)) return 'right';
  if (guess !== 0 && Math.sign(guess) !== Math.sign(answer)) return 'sign';
  return guess < answer ? 'higher' : 'lower';
}
