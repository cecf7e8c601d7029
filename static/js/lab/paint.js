// Small images for the lab, painted at native size on canvases (CSS scales them with image-rendering: pixelated):
// kernels and feature maps on the diverging scale (blue < 0 < red, symmetric), digits in grey.

import { DIVERGING, colorOf } from '../lib/colors.js';
import { h } from '../lib/dom.js';

/** The largest |value| of `data`, at least a tiny number. @param {ArrayLike<number>} data */
export function absMax(data) {
  let m = 1e-12;
  for (let i = 0; i < data.length; i++) m = Math.max(m, Math.abs(data[i]));
  return m;
}

/** 256 colours from −m to m, so a pixel is a lookup. */
function divergingTable(m) {
  const scale = { zmin: -m, zmax: m, colorscale: DIVERGING };
  const table = new Uint8ClampedArray(256 * 3);
  for (let i = 0; i < 256; i++) {
    const [r, g, b] = colorOf(scale, -m + (2 * m * i) / 255).background.match(/\d+/g).map(Number);
    table.set([r, g, b], 3 * i);
  }
  return table;
}

/**
 * Paint `data` (H, W) from `offset` on `canvas`, on a symmetric diverging scale ±m.
 * @param {HTMLCanvasElement} canvas  @param {ArrayLike<number>} data  @param {number} offset  @param {number} H
 * @param {number} W  @param {number} m
 */
export function paintSigned(canvas, data, offset, H, W, m) {
  const table = divergingTable(m);
  canvas.width = W;
  canvas.height = H;
  const ctx = canvas.getContext('2d');
  const img = ctx.createImageData(W, H);
  for (let p = 0; p < H * W; p++) {
    const i = Math.max(0, Math.min(255, Math.round(((data[offset + p] + m) / (2 * m)) * 255)));
    img.data.set([table[3 * i], table[3 * i + 1], table[3 * i + 2], 255], 4 * p);
  }
  ctx.putImageData(img, 0, 0);
}

/** A 28×28 uint8 digit (white on black) as a canvas, dark ink on white as the pad shows it. @param {ArrayLike<number>} bytes */
export function digitCanvas(bytes, attrs = {}) {
  const c = h('canvas', { width: 28, height: 28, class: 'pixelated', ...attrs });
  const ctx = c.getContext('2d');
  const img = ctx.createImageData(28, 28);
  for (let p = 0; p < 784; p++) {
    const v = 255 - bytes[p];
    img.data.set([v, v, v, 255], 4 * p);
  }
  ctx.putImageData(img, 0, 0);
  return c;
}

/**
 * Fill `box` with one canvas per map of a (F, C?, H, W) tensor (channel 0 of each filter when C is there), on one
 * shared scale (kernels: their sizes compare) or one scale each (feature maps: their shapes compare).
 * @param {HTMLElement} box  @param {{shape: number[], data: ArrayLike<number>}} t  @param {{shared: boolean,
 * label: (f: number) => string}} o
 */
export function paintGrid(box, t, { shared, label }) {
  const [F] = t.shape;
  const [H, W] = t.shape.slice(-2);
  const per = t.data.length / F; // a filter's numbers: channel 0 comes first
  const m = shared ? absMax(t.data) : 0;
  while (box.children.length > F) box.lastChild.remove();
  for (let f = 0; f < F; f++) {
    let c = box.children[f];
    if (!c) { c = h('canvas', { class: 'pixelated', role: 'img' }); box.append(c); }
    const own = shared ? m : absMax(t.data.subarray ? t.data.subarray(f * per, f * per + H * W)
      : Array.prototype.slice.call(t.data, f * per, f * per + H * W));
    paintSigned(c, t.data, f * per, H, W, own);
    c.setAttribute('aria-label', label(f));
    c.title = label(f);
  }
}
