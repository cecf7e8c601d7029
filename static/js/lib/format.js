// Numbers for people: significant digits, a true minus sign, thousands separators. Pure functions.

const MINUS = '\u2212';

/**
 * A number with `digits` significant digits, trailing zeros dropped, "−" for negatives, exponent form when tiny or
 * huge: fmt(0.000123456) → "0.0001235", fmt(-2.5e-9) → "−2.5e−9", fmt(1.5) → "1.5".
 * @param {number} x  @param {number} [digits=4]  @returns {string}
 */
export function fmt(x, digits = 4) {
  if (x === null || x === undefined || Number.isNaN(x)) return '—';
  if (!Number.isFinite(x)) return x > 0 ? '∞' : `${MINUS}∞`;
  if (x === 0) return '0';
  const a = Math.abs(x);
  let s;
  if (a >= 1e-4 && a < 1e6) {
    s = x.toPrecision(digits);
    if (s.includes('e')) s = String(Number(s));
    if (s.includes('.')) s = s.replace(/0+$/, '').replace(/\.$/, '');
  } else {
    const [m, e] = x.toExponential(digits - 1).split('e');
    const mant = m.includes('.') ? m.replace(/0+$/, '').replace(/\.$/, '') : m;
    s = `${mant}e${Number(e)}`;
  }
  return s.replace(/-/g, MINUS);
}

/** A signed number with an explicit "+" for positives: for changes (Δ). @param {number} x @param {number} [digits] */
export function fmtSigned(x, digits = 4) {
  const s = fmt(x, digits);
  return x > 0 ? `+${s}` : s;
}

/** 0.9731 → "97.3 %". @param {number} p  @returns {string} */
export function pct(p) {
  if (p >= 0.9995 && p < 1) return '>99.9 %';
  if (p > 0 && p < 0.0005) return '<0.1 %';
  return `${(100 * p).toFixed(1)} %`;
}

/** 61706 → "61,706". @param {number} n */
export function thousands(n) {
  return String(n).replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}

/** [6, 28, 28] → "6×28×28". @param {number[]} shape */
export function shapeText(shape) {
  return shape.join('×');
}

/** "±0.0123" for a symmetric range. @param {number} m */
export function plusMinus(m) {
  return `±${fmt(m, 3)}`;
}

/**
 * A heading broken at spaces into lines of at most `width` characters, joined by <br> (Plotly's line break), so a
 * long title fits an exported image whole instead of running off its edge. A word longer than a line stays whole.
 * @param {string} text  @param {number} width  @returns {{text: string, lines: number}}
 */
export function wrapTitle(text, width) {
  const lines = [];
  for (const word of text.split(/\s+/).filter(Boolean)) {
    const last = lines.length - 1;
    if (last >= 0 && lines[last].length + 1 + word.length <= width) lines[last] += ` ${word}`;
    else lines.push(word);
  }
  return { text: lines.join('<br>'), lines: Math.max(1, lines.length) };
}
