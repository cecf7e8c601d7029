// static/js/lib/colors.js on the engine's own arrays (fixtures.py engine_fixtures): a signed array (δ, gradients,
// weights, Δ weights) gets a diverging scale symmetric around 0 reaching its largest |value|, so white is exactly 0;
// a non-negative one (activations, pooled maps, the input) a sequential scale from 0 to its maximum.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { caption, colorOf, DIVERGING, scaleFor, SEQUENTIAL, sharedScale } from '../../static/js/lib/colors.js';
import { loadFixtures } from './helpers.mjs';

const nets = loadFixtures('colors');
const WHITE = 'rgb(255, 255, 255)';

const absMax = (data) => data.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
const min = (data) => data.reduce((m, v) => Math.min(m, v), Infinity);

/** Every array of both passes with a name: [name, Float64Array]. */
function arrays() {
  const out = [];
  for (const [net, pass] of Object.entries(nets)) {
    out.push([`${net} input`, pass.input.data], [`${net} logits`, pass.logits.data]);
    for (const l of pass.layers) {
      for (const key of ['input', 'output', 'delta', 'grad_input', 'W', 'b', 'dW', 'db']) {
        if (l[key]) out.push([`${net} ${l.name} ${key}`, l[key].data]);
      }
    }
  }
  return out;
}

test('a signed array gets a symmetric diverging scale: zmin = −zmax = −max|v|, white at 0', () => {
  let signed = 0;
  for (const [name, data] of arrays().filter(([, d]) => min(d) < 0)) {
    const s = scaleFor(data);
    assert.equal(s.signed, true, name);
    assert.equal(s.colorscale, DIVERGING, name);
    assert.equal(s.zmax, absMax(data), name);
    assert.equal(s.zmin, -s.zmax, `${name}: symmetric`);
    assert.equal(colorOf(s, 0).background, WHITE, `${name}: 0 is white`);
    assert.equal(caption(s).startsWith('blue < 0 < red, ±'), true, name);
    signed += 1;
  }
  assert.ok(signed >= 20, `the passes hold signed arrays (${signed})`);
});

test('a non-negative array gets a sequential scale from 0 to its maximum; signed: true makes it symmetric', () => {
  let plain = 0;
  for (const [name, data] of arrays().filter(([, d]) => min(d) >= 0 && absMax(d) > 0)) {
    const s = scaleFor(data);
    assert.deepEqual([s.signed, s.zmin, s.zmax, s.colorscale], [false, 0, absMax(data), SEQUENTIAL], name);
    assert.equal(colorOf(s, 0).background, WHITE, `${name}: 0 is white paper`);
    const forced = scaleFor(data, { signed: true });
    assert.deepEqual([forced.zmin, forced.zmax], [-absMax(data), absMax(data)], name);
    plain += 1;
  }
  assert.ok(plain >= 6, `the passes hold activations (${plain})`);
});

test('W before and after a step share one symmetric scale covering both', () => {
  for (const [net, pass] of Object.entries(nets)) {
    for (const l of pass.layers.filter((l) => l.W)) {
      const after = l.W.data.map((w, i) => w - 0.5 * l.dW.data[i]);
      const s = sharedScale(l.W.data, after);
      const m = Math.max(absMax(l.W.data), absMax(after));
      assert.deepEqual([s.signed, s.zmin, s.zmax], [true, -m, m], `${net} ${l.name}`);
      assert.equal(colorOf(s, 0).background, WHITE);
    }
  }
  const relu = nets.small.layers.find((l) => l.kind === 'ReLU');
  const s = sharedScale(relu.output.data, relu.output.data.map((v) => 2 * v));
  assert.deepEqual([s.signed, s.zmin, s.zmax], [false, 0, 2 * absMax(relu.output.data)]);
});

test('the ends of a diverging scale are its end colours, and all zeros say so', () => {
  const s = scaleFor(nets.small.layers[0].delta.data);
  assert.equal(colorOf(s, s.zmin).background, 'rgb(33, 102, 172)');
  assert.equal(colorOf(s, s.zmax).background, 'rgb(178, 24, 43)');
  assert.equal(colorOf(s, 10 * s.zmax).background, 'rgb(178, 24, 43)', 'beyond the range: clamped');
  assert.equal(caption(scaleFor(new Float64Array(5))), 'all values are 0');
});
