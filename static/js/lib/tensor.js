// Arrays as they arrive from the server: {shape, data} with a typed array in row-major (C-order) layout.
// Pure functions, no DOM: tested in Node against numpy (tests/js/tensor.test.mjs).

/**
 * @typedef {Float32Array | Float64Array | Uint8Array | Int32Array} TypedArray
 * @typedef {{shape: number[], data: TypedArray, outer?: {u: Tensor, v: Tensor, scale: number}}} Tensor
 */

const CTORS = { float32: Float32Array, uint8: Uint8Array, int32: Int32Array };

/** @param {number[]} shape  @returns {number} the number of elements */
export function size(shape) {
  return shape.reduce((a, b) => a * b, 1);
}

/**
 * A tensor from a base64 string of little-endian bytes (the JSON wire form).
 * @param {string} b64  @param {string} dtype float32 | uint8 | int32  @param {number[]} shape
 * @returns {Tensor}
 */
export function fromBase64(b64, dtype, shape) {
  const Ctor = CTORS[dtype];
  if (!Ctor) throw new Error(`unknown dtype ${dtype}`);
  const bin = atob(b64);
  const bytes = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
  return { shape, data: new Ctor(bytes.buffer, 0, bytes.length / Ctor.BYTES_PER_ELEMENT) };
}

/**
 * scale · u vᵀ, materialised; the factors stay attached (a dense ∂E/∂W = δ·xᵀ, seed 002).
 * @param {Tensor} u (K,)  @param {Tensor} v (D,)  @param {number} scale  @returns {Tensor} (K, D)
 */
export function outer(u, v, scale = 1) {
  const K = u.data.length, D = v.data.length;
  const data = new Float64Array(K * D);
  for (let k = 0; k < K; k++) {
    const s = scale * u.data[k];
    for (let d = 0; d < D; d++) data[k * D + d] = s * v.data[d];
  }
  return { shape: [K, D], data, outer: { u, v, scale } };
}

/** @param {ArrayLike<number>} data  @returns {number} index of the largest value */
export function argmax(data) {
  let best = 0;
  for (let i = 1; i < data.length; i++) if (data[i] > data[best]) best = i;
  return best;
}

/** @param {ArrayLike<number>} data  @returns {number} index of the largest |value| */
export function argmaxAbs(data) {
  let best = 0;
  for (let i = 1; i < data.length; i++) if (Math.abs(data[i]) > Math.abs(data[best])) best = i;
  return best;
}

/** @param {number} index flat  @param {number[]} shape  @returns {number[]} the multi-index */
export function unravel(index, shape) {
  const out = new Array(shape.length);
  for (let k = shape.length - 1; k >= 0; k--) {
    out[k] = index % shape[k];
    index = Math.floor(index / shape[k]);
  }
  return out;
}

/** @param {number[]} idx multi-index  @param {number[]} shape  @returns {number} the flat index */
export function ravel(idx, shape) {
  let flat = 0;
  for (let k = 0; k < shape.length; k++) flat = flat * shape[k] + idx[k];
  return flat;
}

/** @param {Tensor} t  @param {number[]} idx  @returns {number} t[idx] */
export function at(t, idx) {
  return t.data[ravel(idx, t.shape)];
}

