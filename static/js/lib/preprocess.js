// The page's own MNIST preprocessing: a drawing's luminance -> the 28×28 input the network reads, step for step as
// the server makes it (app/services/images.py preprocess, geometry in app/services/geometry.py), so the page can
// send the 28×28 input instead of a PNG the server must decode. Tested against the server's output on the same
// drawings (tests/js/preprocess.test.mjs). Pure functions, no DOM.
//
// Precision: float64 like numpy up to the resampling, which runs on float32 as Pillow's mode "F" does
// (resample.js); the input is returned as float32, the wire's type.

import { BOX, LANCZOS, resize } from './resample.js';

/** @typedef {{data: Float32Array, shape: [number, number]}} Step */

/** Of the brightest ink: fainter pixels stay out of the bounding box (images.py INK_THRESHOLD). */
export const INK_THRESHOLD = 0.1;
/** Brightest ink above the background below this: nothing was drawn (images.py MIN_INK). */
export const MIN_INK = 0.1;
/** Longest side of the grayscale, inverted and cropped steps as kept for display (images.py DISPLAY_MAX_SIDE). */
export const DISPLAY_MAX_SIDE = 560;
const FIELD = 28, BOX_SIDE = 20, CENTER = 14;

/** The server's message for a drawing with no ink (images.py EmptyImageError), word for word. */
export const EMPTY_MESSAGE = 'The image is blank: nothing stands out from the background (a uniform or empty canvas). '
  + 'Draw a digit, or send a picture of one, and try again.';

/**
 * Canvas pixels -> luminance in [0, 1], 1 = white, as the server reads the PNG of the same canvas
 * (images.py _to_gray): Pillow's "L" conversion, (19595 R + 38470 G + 7471 B + 2¹⁵) >> 16, i.e. ITU-R 601-2
 * 0.299 R + 0.587 G + 0.114 B rounded to 8 bits, then / 255. Where the canvas is not opaque, the luminance is
 * composited over the background that contrasts with the visible ink, as images.py _composite does.
 * @param {{data: Uint8ClampedArray | Uint8Array, width: number, height: number}} imageData RGBA, not premultiplied
 * @returns {Float64Array} (height, width)
 */
export function grayFromImageData(imageData) {
  const { data, width, height } = imageData;
  const n = width * height;
  const lum = new Float64Array(n), alpha = new Float64Array(n);
  let opaque = true;
  for (let i = 0; i < n; i++) {
    const r = data[4 * i], g = data[4 * i + 1], b = data[4 * i + 2];
    lum[i] = ((r * 19595 + g * 38470 + b * 7471 + 0x8000) >> 16) / 255;
    alpha[i] = data[4 * i + 3] / 255;
    if (data[4 * i + 3] !== 255) opaque = false;
  }
  return opaque ? lum : composite(lum, alpha);
}

/** images.py _composite: over white when the visible ink is dark, over black when it is light. */
function composite(lum, alpha) {
  const visible = [];
  let weighted = 0, mass = 0;
  for (let i = 0; i < lum.length; i++) {
    if (alpha[i] >= 0.5) visible.push(lum[i]);
    weighted += lum[i] * alpha[i];
    mass += alpha[i];
  }
  let ink;
  if (visible.length) ink = median(Float64Array.from(visible));
  else if (mass > 0) ink = weighted / mass; // only faint strokes: weigh each pixel by how visible it is
  else return new Float64Array(lum.length).fill(1);
  const background = ink < 0.5 ? 1 : 0;
  return lum.map((v, i) => v * alpha[i] + background * (1 - alpha[i]));
}

/** numpy's median: the mean of the two middle values for an even count. @param {Float64Array} a (consumed) */
function median(a) {
  a.sort();
  const m = a.length >> 1;
  return a.length % 2 ? a[m] : (a[m - 1] + a[m]) / 2;
}

/** geometry.py border: the outermost rows and columns, each pixel once. @returns {Float64Array} */
function border(a, H, W) {
  if (H <= 2 || W <= 2) return Float64Array.from(a);
  const out = new Float64Array(2 * H + 2 * W - 4);
  let k = 0;
  for (let x = 0; x < W; x++) out[k++] = a[x];
  for (let x = 0; x < W; x++) out[k++] = a[(H - 1) * W + x];
  for (let y = 1; y < H - 1; y++) out[k++] = a[y * W];
  for (let y = 1; y < H - 1; y++) out[k++] = a[y * W + W - 1];
  return out;
}

/** Python's round(): halves go to the even neighbour (round(10.5) = 10), unlike Math.round. */
function roundHalfEven(x) {
  const r = Math.round(x);
  return r - x === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/**
 * geometry.py fit_box: the longer side to 20 px keeping the aspect ratio (the shorter side at least 1 px), Lanczos
 * on float32 with Pillow's reducing_gap = 3, clipped into [0, 1].
 * @param {Float32Array} a (h, w)  @returns {{data: Float64Array, shape: [number, number]}}
 */
function fitBox(a, h, w) {
  const [oh, ow] = h >= w ? [BOX_SIDE, Math.max(1, roundHalfEven(BOX_SIDE * w / h))]
    : [Math.max(1, roundHalfEven(BOX_SIDE * h / w)), BOX_SIDE];
  const out = resize(a, h, w, oh, ow, LANCZOS, 3.0);
  return { data: Float64Array.from(out, (v) => Math.min(Math.max(v, 0), 1)), shape: [oh, ow] };
}

/** geometry.py shrink: area-averaged (Pillow BOX) for display; factor ≥ 1 keeps the array. @returns {Step} */
function shrink(a, H, W, factor) {
  const f32 = Float32Array.from(a);
  if (factor >= 1) return { data: f32, shape: [H, W] };
  const oh = Math.max(1, roundHalfEven(H * factor)), ow = Math.max(1, roundHalfEven(W * factor));
  return { data: resize(f32, H, W, oh, ow, BOX), shape: [oh, ow] };
}

/**
 * A drawing -> the network's input and every step that made it, as the server's images.py preprocess does:
 * 1. inverted when the median of the border is above 0.5 (dark ink on light paper), then the border's median is
 *    subtracted so grey paper becomes black; 2. ink: above INK_THRESHOLD × the brightest, and no ink above MIN_INK
 *    throws; 3. cropped to the ink's bounding box; 4. scaled: the longer side to 20 px (Lanczos), then stretched
 *    so the brightest pixel is 1; 5. centered: pasted on 28×28 black with its centre of mass nearest (14, 14) by
 *    whole pixels, clamped so nothing is cut off.
 * @param {ArrayLike<number>} gray (H, W) luminance in [0, 1], 1 = white (grayFromImageData)
 * @param {number} H  @param {number} W
 * @returns {{input: Float32Array, steps: {grayscale: Step, inverted: Step, cropped: Step, scaled: Step,
 *   centered: Step}, inverted: boolean, bbox: number[], centerOfMass: number[], offset: number[],
 *   background: number, displayScale: number}}
 *   input (28, 28) white digit on black; bbox [top, left, bottom, right] slice-exclusive in the drawing;
 *   centerOfMass [row, col] in the scaled digit; offset [row, col] of the scaled digit in the input.
 * @throws {Error} code 'empty_image' with the server's message when nothing was drawn; a plain Error for a bad array
 */
export function preprocess(gray, H, W) {
  let finite = H > 0 && W > 0 && gray.length === H * W;
  for (let i = 0; finite && i < gray.length; i++) finite = Number.isFinite(gray[i]); // a loop: 50× faster than every()
  if (!finite) throw new Error(`preprocess expects a finite (H, W) array, got ${gray.length} values for (${H}, ${W})`);
  const edge = border(gray, H, W);
  const inverted = median(Float64Array.from(edge)) > 0.5;
  const background = median(inverted ? edge.map((v) => 1 - v) : edge);
  const ink = new Float64Array(H * W);
  let peak = 0;
  for (let i = 0; i < ink.length; i++) {
    const v = Math.min(Math.max((inverted ? 1 - gray[i] : gray[i]) - background, 0), 1);
    ink[i] = v;
    if (v > peak) peak = v;
  }
  if (!(peak >= MIN_INK)) throw Object.assign(new Error(EMPTY_MESSAGE), { code: 'empty_image' });

  let top = H, left = W, bottom = 0, right = 0;
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      if (ink[y * W + x] > INK_THRESHOLD * peak) {
        top = Math.min(top, y); bottom = Math.max(bottom, y + 1);
        left = Math.min(left, x); right = Math.max(right, x + 1);
      }
    }
  }
  const ch = bottom - top, cw = right - left;
  const cropped = new Float64Array(ch * cw);
  for (let y = 0; y < ch; y++) cropped.set(ink.subarray((top + y) * W + left, (top + y) * W + right), y * cw);

  const scaled = fitBox(Float32Array.from(cropped), ch, cw);
  const [sh, sw] = scaled.shape;
  let max = 0;
  for (const v of scaled.data) if (v > max) max = v;
  for (let i = 0; i < scaled.data.length; i++) scaled.data[i] /= max; // > 0: the crop holds the peak

  const centerOfMass = centerOf(scaled.data, sh, sw);
  // floor(x + 0.5): round half up, as geometry.py place does; clamped so the whole digit stays inside.
  const oy = Math.min(Math.max(Math.floor(CENTER - centerOfMass[0] + 0.5), 0), FIELD - sh);
  const ox = Math.min(Math.max(Math.floor(CENTER - centerOfMass[1] + 0.5), 0), FIELD - sw);
  const input = new Float32Array(FIELD * FIELD);
  for (let y = 0; y < sh; y++) {
    for (let x = 0; x < sw; x++) input[(oy + y) * FIELD + ox + x] = scaled.data[y * sw + x];
  }

  const displayScale = Math.min(1, DISPLAY_MAX_SIDE / Math.max(H, W));
  return {
    input,
    steps: {
      grayscale: shrink(gray, H, W, displayScale),
      inverted: shrink(ink, H, W, displayScale),
      cropped: shrink(cropped, ch, cw, displayScale),
      scaled: { data: Float32Array.from(scaled.data), shape: [sh, sw] },
      centered: { data: input, shape: [FIELD, FIELD] },
    },
    inverted,
    bbox: [top, left, bottom, right],
    centerOfMass,
    offset: [oy, ox],
    background,
    displayScale,
  };
}

/**
 * geometry.py center_of_mass: the intensity-weighted mean (row, col) in pixel-index coordinates.
 * @param {Float64Array} a (h, w) with a positive sum  @returns {[number, number]}
 */
function centerOf(a, h, w) {
  let total = 0, row = 0, col = 0;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const v = a[y * w + x];
      total += v;
      row += v * y;
      col += v * x;
    }
  }
  return [row / total, col / total];
}
