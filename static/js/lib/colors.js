// Colour scales and their legends. Sequential (white 0 → black max) for activations, which are ≥ 0; diverging
// (blue < 0 < red, white at 0, symmetric range) for everything signed: net, δ, gradients, Δ weights. Pure functions.

import { fmt } from './format.js';

/** White → near-black: ink on paper, so the input reads like the drawing (1 = ink = dark). */
export const SEQUENTIAL = [[0, '#ffffff'], [0.5, '#8c8c8c'], [1, '#111111']];

/** ColorBrewer RdBu (reversed so that negative is blue), with pure white at 0 so zeros vanish. */
export const DIVERGING = [
  [0, '#2166ac'], [1 / 6, '#67a9cf'], [2 / 6, '#d1e5f0'], [0.5, '#ffffff'],
  [4 / 6, '#fddbc7'], [5 / 6, '#ef8a62'], [1, '#b2182b'],
];

/**
 * The Plotly figures' chrome in each page theme (views/theme.js): font, plot area, the grey between a mosaic's
 * tiles, grid and zero lines, the frame around a heatmap. The colour scales above are NOT themed: white stays 0 and
 * black stays the maximum in dark mode too, so that one colour convention holds everywhere and the diverging
 * scale's white middle cannot vanish into a dark page. A heatmap on the dark page is a light "sheet of paper":
 * its tiles sit on a mid grey (gap) with a light frame, which sets off white (zero) and black (max) tiles alike.
 * paper: an exported PNG's background (on screen the paper is transparent, the card shows through).
 */
export const PLOT_THEMES = {
  light: { font: '#1d232a', paper: 'rgba(0,0,0,0)', plot: '#ffffff', gap: '#c3ccd5', grid: '#e5e7eb',
    zero: '#888888', frame: '#aab4be' },
  dark: { font: '#e3e8ee', paper: '#1b2128', plot: '#232a33', gap: '#66717d', grid: '#3a4450',
    zero: '#9aa5b1', frame: '#c3ccd5' },
};

/** 0/1 winner mask under a max-pool's routed error: grey = not a maximum (gets 0), amber = a window's maximum. */
export const WINNERS = [[0, '#e6e9ed'], [1, '#f6c94e']];

const TINY = 1e-30;

/**
 * How to colour `data`: diverging and symmetric when it is signed (or `signed` forces it), else sequential from 0.
 * @param {ArrayLike<number>} data  @param {{signed?: boolean}} [opts]
 * @returns {{signed: boolean, zmin: number, zmax: number, colorscale: Array}}
 */
export function scaleFor(data, opts = {}) {
  let lo = 0, hi = 0;
  for (let i = 0; i < data.length; i++) {
    const v = data[i];
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  const signed = opts.signed ?? lo < 0;
  if (signed) {
    const m = Math.max(-lo, hi, TINY);
    return { signed: true, zmin: -m, zmax: m, colorscale: DIVERGING };
  }
  return { signed: false, zmin: 0, zmax: Math.max(hi, TINY), colorscale: SEQUENTIAL };
}

/** The same scale for several arrays (W before and after share one range). @param {...ArrayLike<number>} arrays */
export function sharedScale(...arrays) {
  let m = 0;
  let signed = false;
  for (const a of arrays) {
    const s = scaleFor(a);
    m = Math.max(m, s.signed ? s.zmax : s.zmax);
    signed = signed || s.signed;
  }
  return signed ? { signed, zmin: -m, zmax: m, colorscale: DIVERGING }
    : { signed, zmin: 0, zmax: m, colorscale: SEQUENTIAL };
}

/**
 * The caption under a plot: "blue < 0 < red, ±0.0123" or "white 0 → black 3.21"; "all zero" when nothing is there.
 * @param {{signed: boolean, zmax: number}} scale  @returns {string}
 */
export function caption(scale) {
  if (scale.zmax <= TINY) return 'all values are 0';
  return scale.signed ? `blue < 0 < red, ±${fmt(scale.zmax, 3)}` : `white 0 → black ${fmt(scale.zmax, 3)}`;
}

/** A CSS linear-gradient of a Plotly colour scale, for the HTML colour bars. @param {Array} colorscale */
export function cssGradient(colorscale) {
  return `linear-gradient(to right, ${colorscale.map(([t, c]) => `${c} ${(100 * t).toFixed(1)}%`).join(', ')})`;
}

/** "#rrggbb" → [r, g, b]. @param {string} hex */
function rgb(hex) {
  const n = parseInt(hex.slice(1), 16);
  return [(n >> 16) & 255, (n >> 8) & 255, n & 255];
}

/**
 * The CSS colour of `value` on a scale (for table cells), with a text colour that stays readable on it.
 * @param {{zmin: number, zmax: number, colorscale: Array}} scale  @param {number} value
 * @returns {{background: string, color: string}}
 */
export function colorOf(scale, value) {
  const span = scale.zmax - scale.zmin || 1;
  const t = Math.min(1, Math.max(0, (value - scale.zmin) / span));
  const cs = scale.colorscale;
  let k = 1;
  while (k < cs.length - 1 && cs[k][0] < t) k++;
  const [t0, c0] = cs[k - 1], [t1, c1] = cs[k];
  const a = t1 > t0 ? (t - t0) / (t1 - t0) : 0;
  const [r0, g0, b0] = rgb(c0), [r1, g1, b1] = rgb(c1);
  const r = Math.round(r0 + a * (r1 - r0)), g = Math.round(g0 + a * (g1 - g0)), b = Math.round(b0 + a * (b1 - b0));
  // WCAG's rule, not a brightness guess: the text colour (black or white) of the higher contrast ratio, ≥ 4.5 on
  // every colour of both scales (mid-grey and the reds of RdBu failed with white).
  const lum = (v) => { const c = v / 255; return c <= 0.04045 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4; };
  const L = 0.2126 * lum(r) + 0.7152 * lum(g) + 0.0722 * lum(b);
  // black, not #111: at the crossover (a mid-grey) #111 reaches only 4.4, black and white both 4.58
  const light = (L + 0.05) / 0.05 >= 1.05 / (L + 0.05);
  return { background: `rgb(${r}, ${g}, ${b})`, color: light ? '#000' : '#fff' };
}
