// The page's pure helpers with no numbers of the engine's to compare: mosaic layouts map every cell back to its
// tensor index, numbers are formatted for people, and live prediction never piles up requests.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { arrange, indexAt } from '../../static/js/lib/arrange.js';
import { fmt } from '../../static/js/lib/format.js';
import { tile } from '../../static/js/lib/mosaic.js';
import { latestOnly } from '../../static/js/lib/scheduler.js';
import { ravel, size, unravel } from '../../static/js/lib/tensor.js';

test('every mosaic cell maps back to its tensor index, and the mosaic holds every value once', () => {
  for (const shape of [[6, 28, 28], [16, 5, 5], [16, 6, 5, 5], [6, 1, 5, 5], [120], [400], [10, 84]]) {
    const a = arrange(shape, { fold: shape.length === 1 && shape[0] > 150 ? 25 : undefined });
    const n = size(shape);
    for (let k = 0; k < n; k++) {
      const { y, x } = a.toCell(shape.length === 1 ? [k] : unravel(k, shape));
      const back = indexAt(a, y, x);
      assert.equal(shape.length === 1 ? back[0] : ravel(back, shape), k, `[${shape}] value ${k}`);
    }
    const z = tile(Float64Array.from({ length: n }, (_, k) => k), a.grid);
    assert.equal(z.flat().filter((v) => v !== null).length, n, `[${shape}]`);
  }
});

test('numbers are formatted for people', () => {
  const cases = [[0, 4, '0'], [1.5, 4, '1.5'], [-0.000123456, 4, '−0.0001235'], [-2.5e-9, 4, '−2.5e−9'],
    [123456.7, 6, '123457'], [2.0, 6, '2'], [NaN, 4, '—']];
  for (const [value, digits, text] of cases) assert.equal(fmt(value, digits), text, `fmt(${value}, ${digits})`);
});

test('latestOnly sends the first request and then only the latest of those made meanwhile', async () => {
  const sent = [], results = [], resolvers = [];
  const s = latestOnly((p) => { sent.push(p); return new Promise((r) => resolvers.push(() => r(p))); },
    { onResult: (r) => results.push(r), onError: () => {} });
  for (let k = 1; k <= 5; k++) s.request(() => k); // 1 goes out; 2 to 5 collapse into the latest, 5
  resolvers.shift()();
  await new Promise((r) => setTimeout(r, 0));
  resolvers.shift()();
  await new Promise((r) => setTimeout(r, 0));
  assert.deepEqual([sent, results], [[1, 5], [1, 5]]);
});
