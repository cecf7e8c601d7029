// static/js/lib/preprocess.js against the server's preprocessing of the same drawings: fixtures.py sends each canvas
// as RGBA and what app.services.images made of its PNG (load_grayscale, then preprocess).

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { EMPTY_MESSAGE, grayFromImageData, preprocess } from '../../static/js/lib/preprocess.js';
import { assertClose, loadFixtures } from './helpers.mjs';

const { cases } = loadFixtures('preprocess');

/** The canvas as getImageData gives it. */
function imageData(rgba) {
  const [height, width] = rgba.shape;
  return { data: new Uint8ClampedArray(rgba.data.buffer), width, height };
}

test('canvas pixels give the luminance the server reads from their PNG (Pillow "L", composited alpha)', (t) => {
  let worst = 0;
  for (const c of cases) {
    // Exact but for the float32 the expected values travel in: 8-bit levels / 255 and their composites.
    worst = Math.max(worst, assertClose(grayFromImageData(imageData(c.rgba)), c.gray.data,
      { atol: 1e-15, rtol: 0, what: `${c.name}: gray` }));
  }
  t.diagnostic(`max |JS − server| over ${cases.length} canvases: ${worst}`);
});

test('the 28×28 input and every step equal the server\'s', (t) => {
  let worstInput = 0, worstStep = 0;
  for (const c of cases.filter((c) => c.expected)) {
    const [H, W] = c.gray.shape;
    const e = c.expected;
    const pre = preprocess(c.gray.data, H, W);
    assert.deepEqual(
      { inverted: pre.inverted, bbox: pre.bbox, offset: pre.offset, shape: pre.steps.scaled.shape },
      { inverted: e.inverted, bbox: e.bbox, offset: e.offset, shape: e.steps.scaled.shape }, c.name);
    assert.ok(pre.input instanceof Float32Array && pre.input.length === 784, `${c.name}: a Float32Array(784)`);
    worstInput = Math.max(worstInput, assertClose(pre.input, e.input.data,
      { atol: 1e-6, rtol: 0, what: `${c.name}: input` }));
    for (const [name, step] of Object.entries(e.steps)) {
      assert.deepEqual(pre.steps[name].shape, step.shape, `${c.name}: ${name} shape`);
      worstStep = Math.max(worstStep, assertClose(pre.steps[name].data, step.data,
        { atol: 1e-6, rtol: 0, what: `${c.name}: ${name}` }));
    }
    assertClose(pre.centerOfMass, e.center_of_mass, { rtol: 1e-12, what: `${c.name}: centre of mass` });
    assertClose([pre.background, pre.displayScale], [e.background, e.display_scale],
      { rtol: 1e-15, what: `${c.name}: background, display scale` });
  }
  t.diagnostic(`max |JS − server|: input ${worstInput}, display steps ${worstStep}`);
});

test('a drawing with no ink throws the server\'s message, word for word', () => {
  const empty = cases.filter((c) => c.error);
  assert.ok(empty.length >= 2, 'the fixtures hold a blank and a too-faint canvas');
  for (const c of empty) {
    const [H, W] = c.gray.shape;
    assert.equal(c.error, EMPTY_MESSAGE);
    assert.throws(() => preprocess(c.gray.data, H, W), (e) => e.message === c.error && e.code === 'empty_image',
      c.name);
  }
});

test('an array that is not a finite (H, W) image is refused', () => {
  assert.throws(() => preprocess(new Float64Array(6), 2, 2), /finite \(H, W\) array/);
  assert.throws(() => preprocess(Float64Array.of(1, NaN, 1, 1), 2, 2), /finite \(H, W\) array/);
});
