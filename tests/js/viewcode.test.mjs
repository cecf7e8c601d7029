// static/js/lib/viewcode.js: a view survives the trip through a link's fragment exactly; a damaged field is left out
// and named, another format version opens nothing, and hostile fragments are refused without throwing.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import {
  FORMAT, decodeImage, decodeStrokes, decodeView, encodeImage, encodeStrokes, encodeView, toBase64url,
} from '../../static/js/lib/viewcode.js';

/** A deterministic pseudo-random generator (mulberry32), so a failure can be replayed. */
function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function randomStrokes(r) {
  return Array.from({ length: 1 + Math.floor(r() * 4) }, () => {
    let x = Math.floor(r() * 280), y = Math.floor(r() * 280);
    const points = Array.from({ length: 1 + Math.floor(r() * 300) }, () => {
      x = Math.min(279, Math.max(0, x + Math.floor(r() * 41) - 20));
      y = Math.min(279, Math.max(0, y + Math.floor(r() * 41) - 20));
      return [x, y];
    });
    return { size: 6 + Math.floor(r() * 39), points };
  });
}

function randomImage(r) {
  // MNIST-like: mostly zeros, a blob of ink of every grey level
  return Uint8Array.from({ length: 784 }, (_, k) => {
    const i = Math.floor(k / 28), j = k % 28;
    return (i - 14) ** 2 + (j - 14) ** 2 < 60 && r() < 0.7 ? Math.floor(r() * 256) : 0;
  });
}

test('strokes of whole pad pixels come back exactly, and compactly', () => {
  const r = rng(1);
  for (let trial = 0; trial < 200; trial++) {
    const strokes = randomStrokes(r);
    const text = encodeStrokes(strokes);
    assert.deepEqual(decodeStrokes(text), strokes);
    const points = strokes.reduce((n, s) => n + s.points.length, 0);
    assert.ok(text.length <= 8 + points * 3.5, `${text.length} characters for ${points} points`);
  }
});

test('a 28×28 image comes back exactly, its zeros packed', () => {
  const r = rng(2);
  const images = [new Uint8Array(784), new Uint8Array(784).fill(255), Uint8Array.from({ length: 784 }, (_, k) => k % 256)];
  for (let trial = 0; trial < 200; trial++) images.push(randomImage(r));
  for (const image of images) assert.deepEqual(decodeImage(encodeImage(image)), image);
  assert.ok(encodeImage(new Uint8Array(784)).length < 12);
});

test('a whole view round-trips through the fragment', () => {
  const r = rng(3);
  const views = [
    { digit: { sample: 7 }, loss: 'cross_entropy', lr: 0.001, momentum: 0, model: { kind: 'served', params: 61706 } },
    { digit: { strokes: randomStrokes(r) }, target: 3, loss: 'mse', revealed: 4, cursor: 4,
      selection: { layer: 4, part: 'delta', idx: [2, 3, 1] }, neuron: { layer: 0, idx: [5, 12, 20] }, lr: 0.05,
      momentum: 0.9, model: { kind: 'trained', params: 12345 }, lesson: { id: 'backward-conv', card: 3 } },
    { digit: { image: randomImage(r) }, target: 0, revealed: 9, selection: { layer: 8, part: 'dW', idx: [1, 83] },
      model: { kind: 'uploaded', params: 7 } },
  ];
  for (const view of views) {
    const fragment = encodeView(view);
    assert.match(fragment, new RegExp(`^v=${FORMAT}&`));
    assert.ok(!/[#?\s]/.test(fragment), fragment);
    const back = decodeView(`#${fragment}`);
    assert.deepEqual(back.damaged, []);
    assert.deepEqual(back.view, view);
  }
});

test('cursor and selection travel only with a revealed pass', () => {
  const fragment = encodeView({ revealed: 0, cursor: 3, selection: { layer: 3, part: 'delta', idx: [1] } });
  assert.deepEqual(decodeView(fragment).view, {});
});

test('an anchor that is not a view is not read as one', () => {
  assert.equal(decodeView('#controls'), null);
  assert.equal(decodeView(''), null);
});

test('another format version opens nothing and says which', () => {
  assert.deepEqual(decodeView('#v=7&d=s3&t=3'), { view: null, damaged: [], version: 7 });
  assert.deepEqual(decodeView('#v=x&d=s3'), { view: null, damaged: [], version: null });
});

test('a damaged field is left out and named, the rest still opens', () => {
  const good = encodeView({ digit: { strokes: [{ size: 20, points: [[10, 10], [200, 200]] }] }, target: 4 });
  const cut = good.replace(/d=k([A-Za-z0-9_-]+)/, (_, s) => `d=k${s.slice(0, 3)}`);
  assert.deepEqual(decodeView(cut), { view: { target: 4 }, damaged: ['the digit'], version: FORMAT });
  const bad = decodeView('#v=1&d=s3&t=-1&l=hinge&r=x&x=3.nope.1&n=1.a&lr=0&mu=1&m=alien.3&L=..&zz=future');
  assert.deepEqual(bad.view, { digit: { sample: 3 } });
  assert.deepEqual(bad.damaged, ['the target', 'the loss', 'how far backward went', 'the picked cell', 'the neuron',
    'the learning rate', 'the momentum', 'the model', 'the lesson card']);
});

test('hostile fragments are refused without throwing or allocating much', () => {
  const varints = (...ns) => {
    const out = [];
    for (let n of ns) { while (n >= 0x80) { out.push((n & 0x7f) | 0x80); n >>>= 7; } out.push(n); }
    return toBase64url(Uint8Array.from(out));
  };
  const cases = [
    `#v=1&d=k${varints(1_000_000)}`, // a million strokes announced
    `#v=1&d=k${varints(1, 20, 100_000, 5, 5)}`, // a stroke of 100,000 points announced
    `#v=1&d=k${varints(1, 20, 2, 5, 5, 2000, 0)}`, // a point off the pad
    `#v=1&d=k${varints(1, 20, 1, 5, 5, 9)}`, // trailing bytes
    `#v=1&d=i${toBase64url(Uint8Array.from([0, 255, 0, 255, 0, 255, 0, 255]))}`, // 1,020 pixels
    `#v=1&d=i${toBase64url(Uint8Array.from([0, 0]))}`, // a run of none
    '#v=1&d=k%%%',
    '#v=1&d=k!!!',
  ];
  for (const fragment of cases) {
    const r = decodeView(fragment);
    assert.deepEqual(r.damaged, ['the digit'], fragment);
    assert.deepEqual(r.view, {}, fragment);
  }
  const huge = decodeView(`#v=1&d=k${'A'.repeat(20_000)}`);
  assert.equal(huge.view, null);
});
