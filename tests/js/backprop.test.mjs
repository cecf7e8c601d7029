// static/js/lib/backprop.js against the engine: every number the page redoes (what a layer passes down, a conv
// neuron's sum, one weight's gradient, the losses) equals cnn's own on two networks (fixtures.py engine_fixtures):
// a small one with non-square shapes, C > 1, stride 2 with padding 1, stride 1 with padding 2 and an overlapping
// max-pool; the pretrained LeNet-5 on an MNIST digit; and one with the layers that carry no weight besides ReLU and
// max-pool (tanh, an overlapping average pool, sigmoid, dropout, leaky ReLU).

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import {
  convBackward, convInputGrad, convNeuron, convWeightGrad, crossEntropy, denseBackward, denseInputGrad, gradientBelow,
  mapSum, poolBackward, poolWinners, reluBackward, squaredError,
} from '../../static/js/lib/backprop.js';
import { assertClose, loadFixtures } from './helpers.mjs';

const nets = loadFixtures('backprop');
const RTOL = 1e-12; // float64 both sides; only the order of the sums differs

/** GET /api/model's row for a layer: what gradientBelow is told about it. */
const modelRow = (l) => ({ index: l.index, kind: l.kind, stride: l.stride, padding: l.padding, size: l.size,
  negative_slope: l.negative_slope });

for (const [net, pass] of Object.entries(nets)) {
  const layers = pass.layers;
  const of = (kind) => layers.filter((l) => l.kind === kind);

  describe(net, () => {
    test('Dense passes down Wᵀδ: whole, and cell by cell with its terms', () => {
      for (const l of of('Dense')) {
        assertClose(denseBackward(l.delta, l.W).data, l.grad_input.data, { rtol: RTOL, what: `${l.name} Wᵀδ` });
        const [K, D] = l.W.shape;
        const cells = Array.from({ length: D }, (_, i) => denseInputGrad(l.delta, l.W, i));
        assert.ok(cells.every((g) => g.count === K));
        assertClose(cells.map((g) => g.sum), l.grad_input.data,
          { rtol: RTOL, what: `${l.name} ∂E/∂x cell by cell` });
      }
    });

    test('Conv2D passes down δ convolved with the kernel rotated 180°, with its stride and padding', () => {
      for (const l of of('Conv2D')) {
        const [C, H, W] = l.input.shape;
        const what = `${l.name} (stride ${l.stride}, padding ${l.padding})`;
        assertClose(convBackward(l.delta, l.W, l.input.shape, l.stride, l.padding).data, l.grad_input.data,
          { rtol: RTOL, what });
        const cells = [];
        for (let c = 0; c < C; c++) {
          for (let y = 0; y < H; y++) {
            for (let x = 0; x < W; x++) cells.push(convInputGrad(l.delta, l.W, c, y, x, l.stride, l.padding).sum);
          }
        }
        assertClose(cells, l.grad_input.data, { rtol: RTOL, what: `${what}, cell by cell` });
      }
    });

    test('ReLU and max-pool pass down what the engine does; the winners are the routed cells', () => {
      for (const l of of('ReLU')) {
        assertClose(reluBackward(l.delta, l.input).data, l.grad_input.data, { rtol: 0, what: l.name });
      }
      for (const l of of('MaxPool2D')) {
        assertClose(poolBackward(l.delta, l.routing, l.input.shape).data, l.grad_input.data,
          { rtol: RTOL, what: l.name });
        assert.deepEqual(Array.from(poolWinners(l.routing, l.input.shape).data), Array.from(l.winners.data), l.name);
      }
    });

    test('gradientBelow, redone in the browser, is the ∂E/∂input the engine computed, layer by layer', () => {
      const forward = { input: pass.input, layers: layers.map((l) => l.output) };
      for (const l of layers) {
        const payload = { delta: l.delta, routing: l.routing };
        const got = gradientBelow(modelRow(l), payload, undefined, forward, l.W ? { W: l.W } : undefined,
          l.input.shape);
        assert.equal(got.source, 'browser', l.name);
        assert.deepEqual(got.tensor.shape, l.input.shape, l.name);
        assertClose(got.tensor.data, l.grad_input.data, { rtol: RTOL, what: `${l.name} (${l.kind})` });
        if (l.index > 0) { // once the layer below has arrived, its own δ is shown, never a recomputation
          const below = layers[l.index - 1];
          const server = gradientBelow(modelRow(l), payload, below, forward, undefined, l.input.shape);
          assert.equal(server.source, 'server');
          assert.equal(server.tensor.data, below.delta.data);
        }
      }
      const first = layers[0];
      const saliency = gradientBelow(modelRow(first), { delta: first.delta, grad_input: first.grad_input }, undefined,
        forward, undefined, first.input.shape);
      assert.equal(saliency.source, 'server');
      assert.equal(saliency.tensor.data, first.grad_input.data);
      const dense = of('Dense')[0];
      assert.equal(gradientBelow(modelRow(dense), { delta: dense.delta }, undefined, forward, undefined,
        dense.input.shape), null, 'no weights loaded: nothing to show yet');
    });

    test('a conv neuron: its patch, kernel, products and net = Σ + b equal the layer\'s output', () => {
      for (const l of of('Conv2D')) {
        const [F, C, KH, KW] = l.W.shape;
        const [, OH, OW] = l.output.shape;
        const [, H, W] = l.input.shape;
        const nets = [];
        for (let f = 0; f < F; f++) {
          for (let i = 0; i < OH; i++) {
            for (let j = 0; j < OW; j++) {
              const n = convNeuron(l.input, l.W, l.b, f, i, j, l.stride, l.padding);
              const what = `${l.name} neuron (${f}, ${i}, ${j})`;
              nets.push(n.net);
              const size = C * KH * KW;
              assert.deepEqual(Array.from(n.kernel), Array.from(l.W.data.subarray(f * size, (f + 1) * size)), what);
              assert.equal(n.bias, l.b.data[f]);
              assert.equal(n.net, n.sum + n.bias);
              assertClose([n.channelSums.reduce((a, b) => a + b, 0)], [n.sum],
                { atol: 1e-12 * n.products.reduce((a, p) => a + Math.abs(p), 0), rtol: 0, what });
              for (let c = 0; c < C; c++) {
                for (let u = 0; u < KH; u++) {
                  for (let v = 0; v < KW; v++) {
                    const k = (c * KH + u) * KW + v;
                    const y = i * l.stride + u - l.padding, x = j * l.stride + v - l.padding;
                    const inside = y >= 0 && y < H && x >= 0 && x < W;
                    assert.equal(n.padded[k], inside ? 0 : 1, `${what} tap ${k}`);
                    assert.equal(n.patch[k], inside ? l.input.data[(c * H + y) * W + x] : 0, `${what} tap ${k}`);
                    assert.equal(n.products[k], n.patch[k] * n.kernel[k]);
                  }
                }
              }
            }
          }
        }
        assertClose(nets, l.output.data, { rtol: RTOL, what: `${l.name} net of every neuron` });
      }
    });

    test('conv weight gradients: ∂E/∂W = input ⋆ δ per weight, ∂E/∂b = Σ δ per map', () => {
      for (const l of of('Conv2D')) {
        const [F, C, KH, KW] = l.W.shape;
        const dW = new Float64Array(l.W.data.length);
        for (let f = 0; f < F; f++) {
          for (let c = 0; c < C; c++) {
            for (let u = 0; u < KH; u++) {
              for (let v = 0; v < KW; v++) {
                dW[((f * C + c) * KH + u) * KW + v] = convWeightGrad(l.input, l.delta, f, c, u, v, l.stride,
                  l.padding).sum;
              }
            }
          }
        }
        assertClose(dW, l.dW.data, { rtol: RTOL, what: `${l.name} ∂E/∂W` });
        assertClose(Array.from({ length: F }, (_, f) => mapSum(l.delta, f)), l.db.data,
          { rtol: RTOL, what: `${l.name} ∂E/∂b` });
      }
    });

    test('the losses: cross-entropy −ln p_t and squared error ½ Σ (t − y)²', () => {
      assertClose([crossEntropy(Array.from(pass.probs.data), pass.target)], [pass.cross_entropy],
        { rtol: 1e-13, what: 'cross-entropy' });
      assertClose([squaredError(pass.logits.data, pass.target)], [pass.squared_error],
        { rtol: 1e-13, what: 'squared error' });
    });
  });
}
