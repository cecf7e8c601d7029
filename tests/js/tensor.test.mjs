// static/js/lib/tensor.js against numpy (fixtures.py tensor_fixtures): arrays decoded from the wire's base64 in each
// wire dtype; flat and multi-indices; argmax; outer.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import {
  argmax, argmaxAbs, at, fromBase64, outer, ravel, size, unravel,
} from '../../static/js/lib/tensor.js';
import { assertClose, loadFixtures } from './helpers.mjs';

const fx = loadFixtures('tensor');
const CTORS = { float32: Float32Array, uint8: Uint8Array, int32: Int32Array };

test('fromBase64 gives the values numpy encoded, in the wire dtype\'s own typed array', () => {
  for (const a of fx.base64) {
    const t = fromBase64(a.data, a.dtype, a.shape);
    assert.ok(t.data instanceof CTORS[a.dtype], `${a.dtype}: a ${CTORS[a.dtype].name}`);
    assert.deepEqual(t.shape, a.shape);
    assert.deepEqual(Array.from(t.data), Array.from(a.values.data), a.dtype);
  }
  assert.throws(() => fromBase64('AAAA', 'float64', [1]), /unknown dtype float64/);
});

test('ravel and unravel are numpy\'s C-order flat and multi-indices, and inverse to each other', () => {
  for (const { shape, flat, multi } of fx.indices) {
    flat.forEach((k, n) => {
      assert.deepEqual(unravel(k, shape), multi[n], `unravel(${k}, [${shape}])`);
      assert.equal(ravel(multi[n], shape), k, `ravel([${multi[n]}], [${shape}])`);
    });
    const t = { shape, data: Float64Array.from({ length: size(shape) }, (_, k) => k) };
    assert.equal(at(t, multi[0]), flat[0]);
  }
});

test('argmax and argmaxAbs take the first of tied maxima as numpy does', () => {
  const a = fx.argmax;
  assert.equal(argmax(a.data.data), a.argmax);
  assert.equal(argmaxAbs(a.data.data), a.argmax_abs);
});

test('outer is scale · u vᵀ, (K, D), and keeps its factors', () => {
  const { u, v, scale, expected } = fx.outer;
  const o = outer(u, v, scale);
  assert.deepEqual(o.shape, expected.shape);
  assertClose(o.data, expected.data, { rtol: 1e-15, what: 'outer' }); // (s·u)·v against s·(u·v): an ulp
  assert.deepEqual(o.outer, { u, v, scale });
});
