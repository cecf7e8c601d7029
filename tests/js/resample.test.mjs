// static/js/lib/resample.js against Pillow's resize of the same float32 images (fixtures.py resample_fixtures).

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { BOX, LANCZOS, resize } from '../../static/js/lib/resample.js';
import { assertClose, loadFixtures } from './helpers.mjs';

const { cases } = loadFixtures('resample');

test('resize equals Pillow on mode "F" images: Lanczos with and without reducing_gap, BOX', (t) => {
  let worst = 0, unequal = 0, values = 0;
  for (const c of cases) {
    const [H, W] = c.src.shape, [oh, ow] = c.out.shape;
    const out = resize(c.src.data, H, W, oh, ow, c.filter === 'box' ? BOX : LANCZOS, c.gap);
    assert.equal(out.length, oh * ow);
    const what = `${c.filter} gap=${c.gap} (${H}, ${W}) -> (${oh}, ${ow})`;
    // 1e-6: a float32 rounding or two. The port is bit-exact against Pillow 13; an older Pillow orders the two
    // passes differently, which moves the last bit only.
    worst = Math.max(worst, assertClose(out, c.out.data, { atol: 1e-6, rtol: 0, what }));
    for (let i = 0; i < out.length; i++) unequal += out[i] !== c.out.data[i];
    values += out.length;
  }
  t.diagnostic(`${cases.length} resizes, ${values} values: max |JS − Pillow| = ${worst}, ${unequal} not bit-equal`);
});
