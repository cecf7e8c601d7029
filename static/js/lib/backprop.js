// The arithmetic a learner inspects, redone in the browser from the numbers the server sent: the loss, what each
// layer passes down (so a step can show it before the next layer arrives), and one conv neuron's sum. Float64 on
// float32 inputs: equal to the server's float64 results to about 7 significant digits. Pure functions.

import { size } from './tensor.js';

/** @typedef {import('./tensor.js').Tensor} Tensor */

/** Softmax cross-entropy for one example: E = −ln p_t. @param {number[]} probs (K,) @param {number} target */
export function crossEntropy(probs, target) {
  return -Math.log(probs[target]);
}

/** Squared error on the raw outputs: E = ½ Σ_k (t_k − y_k)², t one-hot. @param {ArrayLike<number>} y (K,) */
export function squaredError(y, target) {
  let e = 0;
  for (let k = 0; k < y.length; k++) e += 0.5 * ((k === target ? 1 : 0) - y[k]) ** 2;
  return e;
}

/**
 * Through an activation: δ = ∂E/∂out ⊙ f′(net), f′(net) = 1 where net > 0, else 0 (ReLU).
 * @param {Tensor} dout ∂E/∂out (any shape)  @param {Tensor} net the activation's input, same shape  @returns {Tensor}
 */
export function reluBackward(dout, net) {
  const data = new Float64Array(dout.data.length);
  for (let i = 0; i < data.length; i++) data[i] = net.data[i] > 0 ? dout.data[i] : 0;
  return { shape: dout.shape, data };
}

/**
 * Through a smooth activation, from its output y: tanh′ = 1 − y², σ′ = y(1 − y).
 * @param {Tensor} dout ∂E/∂out  @param {Tensor} out the activation's output, same shape
 * @param {'Tanh'|'Sigmoid'} kind  @returns {Tensor}
 */
export function smoothBackward(dout, out, kind) {
  const data = new Float64Array(dout.data.length);
  for (let i = 0; i < data.length; i++) {
    const y = out.data[i];
    data[i] = dout.data[i] * (kind === 'Tanh' ? 1 - y * y : y * (1 - y));
  }
  return { shape: dout.shape, data };
}

/**
 * Leaky ReLU: f′(net) = 1 where net > 0, else the negative slope.
 * @param {Tensor} dout  @param {Tensor} net the activation's input  @param {number} slope  @returns {Tensor}
 */
export function leakyReluBackward(dout, net, slope) {
  const data = new Float64Array(dout.data.length);
  for (let i = 0; i < data.length; i++) data[i] = dout.data[i] * (net.data[i] > 0 ? 1 : slope);
  return { shape: dout.shape, data };
}

/**
 * Average pooling: each output's error is shared equally by the size × size cells of its window (overlapping windows
 * add up).
 * @param {Tensor} dout (C, OH, OW)  @param {number[]} inShape [C, H, W]  @param {number} size  @param {number} stride
 * @returns {Tensor} (C, H, W)
 */
export function avgPoolBackward(dout, inShape, size, stride) {
  const [C, H, W] = inShape;
  const [, OH, OW] = dout.shape;
  const data = new Float64Array(C * H * W);
  const share = 1 / (size * size);
  for (let c = 0; c < C; c++) {
    for (let i = 0; i < OH; i++) {
      for (let j = 0; j < OW; j++) {
        const g = dout.data[(c * OH + i) * OW + j] * share;
        for (let u = 0; u < size; u++) {
          for (let v = 0; v < size; v++) data[(c * H + i * stride + u) * W + j * stride + v] += g;
        }
      }
    }
  }
  return { shape: inShape, data };
}

/**
 * Max-pool: each output's error goes to the input cell its maximum came from; every other cell gets 0.
 * @param {Tensor} dout (C, OH, OW)  @param {Tensor} routing (C, OH, OW, 2) input (row, col) of each maximum
 * @param {number[]} inShape [C, H, W]  @returns {Tensor} (C, H, W)
 */
export function poolBackward(dout, routing, inShape) {
  const [C, H, W] = inShape;
  const [, OH, OW] = dout.shape;
  const data = new Float64Array(C * H * W);
  for (let c = 0; c < C; c++) {
    for (let i = 0; i < OH; i++) {
      for (let j = 0; j < OW; j++) {
        const o = (c * OH + i) * OW + j;
        const r = routing.data[2 * o], s = routing.data[2 * o + 1];
        data[(c * H + r) * W + s] += dout.data[o];
      }
    }
  }
  return { shape: [C, H, W], data };
}

/** 0/1 per input cell: was it the maximum of some window? @param {Tensor} routing (C, OH, OW, 2) @returns {Tensor} */
export function poolWinners(routing, inShape) {
  const [C, H, W] = inShape;
  const n = routing.data.length / 2;
  const per = n / C;
  const data = new Float64Array(C * H * W);
  for (let o = 0; o < n; o++) {
    const c = Math.floor(o / per);
    data[(c * H + routing.data[2 * o]) * W + routing.data[2 * o + 1]] = 1;
  }
  return { shape: [C, H, W], data };
}

/**
 * Dense: ∂E/∂x = Wᵀδ, i.e. ∂E/∂x_i = Σ_k W_ki δ_k.
 * @param {Tensor} delta (K,)  @param {Tensor} W (K, D)  @returns {Tensor} (D,)
 */
export function denseBackward(delta, W) {
  const [K, D] = W.shape;
  const data = new Float64Array(D);
  for (let k = 0; k < K; k++) {
    const d = delta.data[k];
    if (d === 0) continue;
    for (let i = 0; i < D; i++) data[i] += W.data[k * D + i] * d;
  }
  return { shape: [D], data };
}

/**
 * Convolution backward to the input: every output cell's δ goes back through the weights that made it, which is δ
 * zero-padded and convolved with the kernel rotated 180° (seed 000, bp_sensitivity_map), cropped to the input.
 * @param {Tensor} delta (F, OH, OW)  @param {Tensor} W (F, C, KH, KW)  @param {number[]} inShape [C, H, W]
 * @param {number} stride  @param {number} pad  @returns {Tensor} (C, H, W)
 */
export function convBackward(delta, W, inShape, stride, pad) {
  const [F, C, KH, KW] = W.shape;
  const [, H, Wd] = inShape;
  const [, OH, OW] = delta.shape;
  const data = new Float64Array(C * H * Wd);
  for (let f = 0; f < F; f++) {
    for (let i = 0; i < OH; i++) {
      for (let j = 0; j < OW; j++) {
        const d = delta.data[(f * OH + i) * OW + j];
        if (d === 0) continue;
        for (let c = 0; c < C; c++) {
          for (let u = 0; u < KH; u++) {
            const y = i * stride + u - pad;
            if (y < 0 || y >= H) continue;
            for (let v = 0; v < KW; v++) {
              const x = j * stride + v - pad;
              if (x < 0 || x >= Wd) continue;
              data[(c * H + y) * Wd + x] += W.data[((f * C + c) * KH + u) * KW + v] * d;
            }
          }
        }
      }
    }
  }
  return { shape: [C, H, Wd], data };
}

/**
 * The receptive field of output (i, j): C × KH × KW input values, 0 where it hangs over the zero padding.
 * @param {Tensor} x (C, H, W)  @returns {{values: Float64Array, padded: Uint8Array}} both (C, KH, KW)
 */
export function convPatch(x, i, j, KH, KW, stride, pad) {
  const [C, H, W] = x.shape;
  const values = new Float64Array(C * KH * KW);
  const padded = new Uint8Array(C * KH * KW);
  for (let c = 0; c < C; c++) {
    for (let u = 0; u < KH; u++) {
      for (let v = 0; v < KW; v++) {
        const y = i * stride + u - pad, xx = j * stride + v - pad;
        const k = (c * KH + u) * KW + v;
        if (y < 0 || y >= H || xx < 0 || xx >= W) padded[k] = 1;
        else values[k] = x.data[(c * H + y) * W + xx];
      }
    }
  }
  return { values, padded };
}

/**
 * One conv neuron, the seed's way: net = Σ_c,u,v x[c, i·S+u−P, j·S+v−P] · W[f, c, u, v] + b[f].
 * @param {Tensor} x (C, H, W) the layer's input  @param {Tensor} W (F, C, KH, KW)  @param {Tensor} b (F,)
 * @returns {{patch: Float64Array, padded: Uint8Array, kernel: Float64Array, products: Float64Array,
 *   channelSums: number[], sum: number, bias: number, net: number}} arrays (C, KH, KW)
 */
export function convNeuron(x, W, b, f, i, j, stride, pad) {
  const [, C, KH, KW] = W.shape;
  const n = C * KH * KW;
  const { values, padded } = convPatch(x, i, j, KH, KW, stride, pad);
  const kernel = Float64Array.from(W.data.subarray(f * n, (f + 1) * n));
  const products = new Float64Array(n);
  const channelSums = new Array(C).fill(0);
  let sum = 0;
  for (let k = 0; k < n; k++) {
    products[k] = values[k] * kernel[k];
    channelSums[Math.floor(k / (KH * KW))] += products[k];
    sum += products[k];
  }
  const bias = b.data[f];
  return { patch: values, padded, kernel, products, channelSums, sum, bias, net: sum + bias };
}

/**
 * One weight's gradient: ∂E/∂W[f, c, u, v] = Σ_i,j x[c, i·S+u−P, j·S+v−P] · δ[f, i, j] (input ⋆ δ, seed 000
 * bp_gradient). Returns the sum and its terms sorted by size, for the explanation.
 * @param {Tensor} x (C, H, W)  @param {Tensor} delta (F, OH, OW)
 * @returns {{sum: number, terms: {i: number, j: number, x: number, delta: number, product: number}[], count: number}}
 */
export function convWeightGrad(x, delta, f, c, u, v, stride, pad) {
  const [, H, W] = x.shape;
  const [, OH, OW] = delta.shape;
  let sum = 0, count = 0;
  const terms = [];
  for (let i = 0; i < OH; i++) {
    for (let j = 0; j < OW; j++) {
      const y = i * stride + u - pad, xx = j * stride + v - pad;
      if (y < 0 || y >= H || xx < 0 || xx >= W) continue;
      const xv = x.data[(c * H + y) * W + xx], d = delta.data[(f * OH + i) * OW + j];
      const product = xv * d;
      sum += product;
      count += 1;
      if (product !== 0) terms.push({ i, j, x: xv, delta: d, product });
    }
  }
  terms.sort((a, b) => Math.abs(b.product) - Math.abs(a.product));
  return { sum, terms, count };
}

/** Σ of one map: ∂E/∂b[f] = Σ_i,j δ[f, i, j]. @param {Tensor} delta (F, OH, OW) @param {number} f */
export function mapSum(delta, f) {
  const n = size(delta.shape.slice(1));
  let s = 0;
  for (let k = f * n; k < (f + 1) * n; k++) s += delta.data[k];
  return s;
}

/**
 * What layer `layer` passes down: ∂E/∂ of its input, which is the ∂E/∂out (or δ) of the layer below. The server's
 * own number when the layer below has arrived (or, for the first layer, its grad_input); until then redone here from
 * this layer's δ, so a step can show it at once. Null when a weight needed is not loaded yet.
 * @param {{index: number, kind: string, stride?: number, padding?: number}} layer  a row of GET /api/model
 * @param {{delta: Tensor, routing?: Tensor, grad_input?: Tensor}} payload  this layer's backward message
 * @param {{delta: Tensor} | undefined} below  the backward message of layer index − 1, if it has arrived
 * @param {{input: Tensor, layers: Tensor[]}} forward  @param {{W: Tensor}|undefined} weights  this layer's
 * @param {number[]} inShape  the layer's input shape
 * @returns {{tensor: Tensor, source: 'server'|'browser'} | null}
 */
export function gradientBelow(layer, payload, below, forward, weights, inShape) {
  if (layer.index === 0 && payload.grad_input) {
    const g = payload.grad_input;
    return { tensor: { shape: inShape, data: g.data }, source: 'server' };
  }
  if (below) return { tensor: { shape: inShape, data: below.delta.data }, source: 'server' };
  const d = payload.delta;
  let t = null;
  switch (layer.kind) {
    case 'ReLU': t = reluBackward(d, forward.layers[layer.index - 1]); break;
    case 'LeakyReLU': t = leakyReluBackward(d, forward.layers[layer.index - 1], layer.negative_slope ?? 0.01); break;
    case 'Tanh': case 'Sigmoid': t = smoothBackward(d, forward.layers[layer.index], layer.kind); break;
    case 'MaxPool2D': t = poolBackward(d, payload.routing, inShape); break;
    case 'AvgPool2D': t = avgPoolBackward(d, inShape, layer.size, layer.stride ?? layer.size); break;
    // Dropout does nothing when the network is used rather than trained, and Identity never does.
    case 'Flatten': case 'Dropout': case 'Identity': t = { shape: inShape, data: d.data }; break;
    case 'Dense': t = weights ? denseBackward(d, weights.W) : null; break;
    case 'Conv2D': t = weights ? convBackward(d, weights.W, inShape, layer.stride ?? 1, layer.padding ?? 0) : null;
      break;
    default: t = null;
  }
  return t ? { tensor: { shape: inShape, data: t.data }, source: 'browser' } : null;
}

/**
 * One input cell's gradient through a convolution: ∂E/∂x[c, y, x] = Σ_f Σ_u,v W[f, c, u, v] · δ[f, i, j] over the
 * outputs (i, j) whose window covers it (i·S + u − P = y), i.e. δ convolved with the kernel rotated 180°.
 * @param {Tensor} delta (F, OH, OW)  @param {Tensor} W (F, C, KH, KW)
 * @returns {{sum: number, terms: {f: number, i: number, j: number, u: number, v: number, w: number, delta: number,
 *   product: number}[], count: number}}
 */
export function convInputGrad(delta, W, c, y, x, stride, pad) {
  const [F, C, KH, KW] = W.shape;
  const [, OH, OW] = delta.shape;
  let sum = 0, count = 0;
  const terms = [];
  for (let f = 0; f < F; f++) {
    for (let u = 0; u < KH; u++) {
      const ii = y + pad - u;
      if (ii % stride !== 0) continue;
      const i = ii / stride;
      if (i < 0 || i >= OH) continue;
      for (let v = 0; v < KW; v++) {
        const jj = x + pad - v;
        if (jj % stride !== 0) continue;
        const j = jj / stride;
        if (j < 0 || j >= OW) continue;
        const w = W.data[((f * C + c) * KH + u) * KW + v], d = delta.data[(f * OH + i) * OW + j];
        const product = w * d;
        sum += product;
        count += 1;
        if (product !== 0) terms.push({ f, i, j, u, v, w, delta: d, product });
      }
    }
  }
  terms.sort((a, b) => Math.abs(b.product) - Math.abs(a.product));
  return { sum, terms, count };
}

/**
 * One dense input's gradient: ∂E/∂x_i = Σ_k W_ki δ_k, with its terms sorted by size.
 * @param {Tensor} delta (K,)  @param {Tensor} W (K, D)  @param {number} i
 */
export function denseInputGrad(delta, W, i) {
  const [K, D] = W.shape;
  let sum = 0;
  const terms = [];
  for (let k = 0; k < K; k++) {
    const product = W.data[k * D + i] * delta.data[k];
    sum += product;
    if (product !== 0) terms.push({ k, w: W.data[k * D + i], delta: delta.data[k], product });
  }
  terms.sort((a, b) => Math.abs(b.product) - Math.abs(a.product));
  return { sum, terms, count: K };
}
