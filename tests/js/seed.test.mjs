// static/js/lib/backprop.js on seed 000's worked example (fixtures.py seed_fixtures): the conv neuron reproduces the
// forward output the seed printed, the weight gradients its updated filters and biases, and what the layer passes
// down equals the engine's ∂E/∂input.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { convBackward, convInputGrad, convNeuron, convWeightGrad, mapSum } from '../../static/js/lib/backprop.js';
import { assertClose, loadFixtures } from './helpers.mjs';

const s = loadFixtures('seed');
const [F, C, KH, KW] = s.w.shape;

test('each conv neuron\'s net is the forward output the seed printed, exactly', () => {
  const [, OH, OW] = s.forward_output.shape;
  const nets = [];
  for (let f = 0; f < F; f++) {
    for (let i = 0; i < OH; i++) {
      for (let j = 0; j < OW; j++) nets.push(convNeuron(s.a, s.w, s.bias, f, i, j, s.stride, s.padding).net);
    }
  }
  assert.deepEqual(nets, Array.from(s.forward_output.data));
});

test('one step with the weight gradients gives the filters and biases the seed printed', () => {
  const after = s.w.data.map((w, k) => {
    const v = k % KW, u = Math.floor(k / KW) % KH, c = Math.floor(k / (KW * KH)) % C, f = Math.floor(k / (KW * KH * C));
    return w - s.lr * convWeightGrad(s.a, s.delta, f, c, u, v, s.stride, s.padding).sum;
  });
  assertClose(after, s.w_after.data, { atol: 1e-12, rtol: 0, what: 'W after' });
  const biasAfter = Array.from(s.bias.data, (b, f) => b - s.lr * mapSum(s.delta, f));
  assertClose(biasAfter, s.bias_after.data, { atol: 1e-12, rtol: 0, what: 'b after' });
});

test('what the layer passes down, whole and cell by cell, is the engine\'s ∂E/∂input', () => {
  const shape = s.a.shape, [, H, W] = shape;
  assertClose(convBackward(s.delta, s.w, shape, s.stride, s.padding).data, s.grad_input.data,
    { atol: 1e-12, rtol: 0, what: 'convBackward' });
  const cells = [];
  for (let c = 0; c < C; c++) {
    for (let y = 0; y < H; y++) {
      for (let x = 0; x < W; x++) cells.push(convInputGrad(s.delta, s.w, c, y, x, s.stride, s.padding).sum);
    }
  }
  assertClose(cells, s.grad_input.data, { atol: 1e-12, rtol: 0, what: 'convInputGrad' });
});
