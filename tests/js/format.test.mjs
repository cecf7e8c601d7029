// static/js/lib/format.js: headings wrapped for exported PNGs keep every word, in order, within the width.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { wrapTitle } from '../../static/js/lib/format.js';

test('a long title is broken at spaces into lines within the width, every word kept in order', () => {
  const title = 'conv1 · δ = ∂E/∂net, the sensitivity map of the first convolution (6 maps of 28×28)';
  const { text, lines } = wrapTitle(title, 30);
  const parts = text.split('<br>');
  assert.equal(lines, parts.length);
  assert.ok(parts.every((p) => p.length <= 30), parts);
  assert.equal(parts.join(' '), title);
  assert.ok(lines >= 3);
});

test('a short title is one line, and a word longer than a line stays whole', () => {
  assert.deepEqual(wrapTitle('Loss after each step', 40), { text: 'Loss after each step', lines: 1 });
  assert.deepEqual(wrapTitle('a supercalifragilistic b', 5), { text: 'a<br>supercalifragilistic<br>b', lines: 3 });
});
