// Shared by the node tests: the fixtures pytest wrote (tests/js/test_node.py) and comparisons that say how far off.
//
// A fixture file is JSON; every array in it is {"dtype", "shape", "b64"} (little-endian bytes, see fixtures.py
// wire_array) and comes back as {shape, data} with a typed array of that dtype, the form the page's lib takes.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';

const CTORS = { float64: Float64Array, float32: Float32Array, int32: Int32Array, uint8: Uint8Array };

/** Every {"dtype", "shape", "b64"} inside `value` -> {shape, data}. */
function decode(value) {
  if (Array.isArray(value)) return value.map(decode);
  if (value && typeof value === 'object') {
    if (typeof value.b64 === 'string' && value.dtype in CTORS) {
      const bytes = Buffer.from(value.b64, 'base64');
      const copy = new Uint8Array(bytes).buffer; // own, aligned buffer: Buffer's pool offset may not be
      return { shape: value.shape, data: new CTORS[value.dtype](copy) };
    }
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, decode(v)]));
  }
  return value;
}

/**
 * <suite>.json from the folder CNN_JS_FIXTURES names, decoded. Fails with a clear message when run by hand.
 * @param {string} suite e.g. 'preprocess'
 */
export function loadFixtures(suite) {
  const dir = process.env.CNN_JS_FIXTURES;
  if (!dir) throw new Error('CNN_JS_FIXTURES is not set: run these tests through pytest (tests/js/test_node.py)');
  return decode(JSON.parse(fs.readFileSync(path.join(dir, `${suite}.json`), 'utf8')));
}

/** @param {ArrayLike<number>} a  @param {ArrayLike<number>} b  @returns {number} max |a − b| (Infinity on NaN) */
export function maxAbsDiff(a, b) {
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    if (!(d <= m)) m = Number.isNaN(d) ? Infinity : d;
  }
  return m;
}

/**
 * actual ≈ expected elementwise within atol + rtol·max|expected|; the message names the worst element.
 * @param {ArrayLike<number>} actual  @param {ArrayLike<number>} expected  @returns {number} the max abs difference
 */
export function assertClose(actual, expected, { atol = 0, rtol = 1e-12, what = 'values' } = {}) {
  assert.equal(actual.length, expected.length, `${what}: ${actual.length} values, expected ${expected.length}`);
  let scale = 0;
  for (let i = 0; i < expected.length; i++) scale = Math.max(scale, Math.abs(expected[i]));
  const tol = atol + rtol * scale;
  let worst = 0, at = -1;
  for (let i = 0; i < expected.length; i++) {
    const d = Math.abs(actual[i] - expected[i]);
    if (!(d <= worst)) { worst = Number.isNaN(d) ? Infinity : d; at = i; }
  }
  assert.ok(worst <= tol,
    `${what}: max |difference| ${worst} at flat index ${at} (got ${actual[at]}, expected ${expected[at]}), `
    + `tolerance ${tol}`);
  return worst;
}
