// static/js/lessons/expr.js: a lesson's answer expressions, its placeholders, a learner's typed number and the
// verdict to 3 significant figures. Run by tests/app/test_lessons.py (node --test).

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { evaluate, fill, parseGuess, reader, verdict } from '../../static/js/lessons/expr.js';

const values = { 'a': 2, 'b.dense3': 0.5, 'lab.count.Sigmoid': 7 };
const read = (path, idx) => (path in values ? values[path] * (idx ? idx[0] + 1 : 1) : null);

test('expressions follow the usual precedence, with unary minus and a right-associative power', () => {
  assert.equal(evaluate('1 + 2 * 3', read), 7);
  assert.equal(evaluate('(1 + 2) * 3', read), 9);
  assert.equal(evaluate('-a ^ 2', read), -4);
  assert.equal(evaluate('2 ^ 3 ^ 2', read), 512);
  assert.equal(evaluate('a - -a', read), 4);
  assert.equal(evaluate('b.dense3[3] - 0.01 * a', read), 1.98);
  assert.equal(evaluate('0.25 ^ lab.count.Sigmoid', read), 0.25 ** 7);
  assert.equal(evaluate('1e-3 * 2', read), 0.002);
  assert.equal(evaluate('a * missing', read), null); // a number the page does not hold yet
  for (const bad of ['a a', '(a', 'a)', '* a', 'a %']) assert.throws(() => evaluate(bad, read), /cannot read/);
});

test('placeholders are filled to 4 significant digits, "…" while a number is missing', () => {
  assert.equal(fill('p = {b.dense3[0]} and {a / 3}; {missing}.', read), 'p = 0.5 and 0.6667; ….');
  assert.equal(fill('no braces', read), 'no braces');
});

test('a typed number is read as a learner writes it', () => {
  assert.equal(parseGuess(' 12 '), 12);
  assert.equal(parseGuess('\u22120.25'), -0.25);
  assert.equal(parseGuess('1,5'), 1.5);
  assert.equal(parseGuess('6.1e-05'), 6.1e-5);
  assert.equal(parseGuess('3×10^-4'), 3e-4);
  for (const bad of ['', 'abc', '1.2.3', '--1', '1e']) assert.ok(Number.isNaN(parseGuess(bad)), bad);
});

test('the verdict holds to 3 significant figures and says which way to go', () => {
  assert.equal(verdict(8.67, 26 / 3), 'right');
  assert.equal(verdict(8.66, 26 / 3), 'higher');
  assert.equal(verdict(8.68, 26 / 3), 'lower');
  assert.equal(verdict(-1, -0.99999678), 'right');
  assert.equal(verdict(-1.01, -0.99999678), 'higher');
  assert.equal(verdict(1, -0.99999678), 'sign');
  assert.equal(verdict(0.000135, 0.000134697), 'right');
  assert.equal(verdict(0.000134, 0.000134697), 'higher');
  assert.equal(verdict(25, 25), 'right');
  assert.equal(verdict(0, 0), 'right');
  assert.equal(verdict(0.2, 0), 'lower');
  assert.equal(verdict(0, -0.5), 'lower');
});

test('the reader takes the page state: outputs, δ, weights, shapes and the lab rows by name', () => {
  const t = (shape, data) => ({ shape, data: Float32Array.from(data) });
  const s = {
    model: { input_shape: [1, 28, 28], layers: [{ name: 'conv1', index: 0, output_shape: [1, 2, 2], stride: 1 },
      { name: 'dense1', index: 1, output_shape: [2] }] },
    forward: { layers: [t([1, 2, 2], [1, -2, 3, 4]), t([2], [0.5, 0.25])], probabilities: [0.25, 0.75], prediction: 1,
      input: t([28, 28], new Array(784).fill(0)) },
    backward: { status: 'ready', target: 1, lossName: 'cross_entropy', loss: 0.2877, revealed: 2,
      layers: [{ index: 1, name: 'dense1', delta: t([2], [0.25, -0.25]), grads: { W: t([2, 4], [1, 2, 3, 4, 5, 6, 7, 8]), b: t([2], [0.25, -0.25]) } }] },
    params: { dense1: { W: t([2, 4], [0, 1, 2, 3, 4, 5, 6, 7]), b: t([2], [9, 8]) } },
    target: null, selection: { layer: 1, part: 'dW', idx: [1, 2] }, update: { loss_before: 2, loss_after: 1 },
    lab: { rows: [{ type: 'Conv2D', stride: 3 }, { type: 'Sigmoid' }, { type: 'Sigmoid' }] },
  };
  const r = reader(s, { lr: 0.1 });
  assert.equal(evaluate('out.conv1[0,1,0]', r), 3);
  assert.equal(evaluate('delta.dense1[1] + db.dense1[0]', r), 0);
  assert.equal(evaluate('dW.dense1[1,2]', r), 7);
  assert.equal(evaluate('W.dense1[1,3] - lr * b.dense1[1]', r), 7 - 0.8);
  assert.equal(evaluate('shape.conv1[2] * model.conv1.stride + shape.input[1]', r), 30);
  assert.equal(evaluate('selected', r), 7);
  assert.equal(evaluate('update.loss_before - update.loss_after', r), 1);
  assert.equal(evaluate('lab.0.stride * lab.count.Sigmoid', r), 6);
  assert.equal(evaluate('probabilities[1]', r), 0.75);
  assert.equal(evaluate('loss', r), 0.2877);
  assert.equal(evaluate('delta.dense1[0]', reader({ ...s, backward: { ...s.backward, status: 'loading' } })), null);
});
