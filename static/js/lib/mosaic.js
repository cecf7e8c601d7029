// Tiling many small maps into one heatmap with gaps: one Plotly trace draws a whole layer (fast), and a cell of the
// mosaic maps back to (map, row, col) for hover and clicks. Pure functions.

/**
 * @typedef {object} Grid
 * @property {number} n tiles   @property {number} H tile rows   @property {number} W tile cols
 * @property {number} rows tile rows in the mosaic   @property {number} cols tile columns in the mosaic
 * @property {number} gap cells between tiles   @property {boolean} colMajor tile m goes down a column first
 * @property {number} height mosaic rows   @property {number} width mosaic columns
 */

/**
 * The layout of n maps of H×W. Row-major by default: tile m at (⌊m/cols⌋, m mod cols). colMajor: tile m at
 * (m mod rows, ⌊m/rows⌋) — kernels (F, C, KH, KW) with rows = C put filter f in column f, channel c in row c.
 * @param {{n: number, H: number, W: number, cols?: number, rows?: number, gap?: number, colMajor?: boolean}} o
 * @returns {Grid}
 */
export function grid({ n, H, W, cols, rows, gap = 1, colMajor = false }) {
  if (colMajor) {
    rows = rows ?? Math.ceil(Math.sqrt(n));
    cols = Math.ceil(n / rows);
  } else {
    cols = cols ?? Math.ceil(Math.sqrt(n));
    rows = Math.ceil(n / cols);
  }
  if (n === 1) gap = 0;
  return { n, H, W, rows, cols, gap, colMajor,
    height: rows * H + (rows - 1) * gap, width: cols * W + (cols - 1) * gap };
}

/** @param {Grid} g  @param {number} m tile  @returns {[number, number]} the tile's top-left mosaic (y, x) */
export function tileOrigin(g, m) {
  const tr = g.colMajor ? m % g.rows : Math.floor(m / g.cols);
  const tc = g.colMajor ? Math.floor(m / g.rows) : m % g.cols;
  return [tr * (g.H + g.gap), tc * (g.W + g.gap)];
}

/**
 * The mosaic as Plotly's z: height rows of width values, null in the gaps (drawn transparent).
 * @param {ArrayLike<number>} data (n, H, W) flat  @param {Grid} g  @returns {(number|null)[][]}
 */
export function tile(data, g) {
  const z = new Array(g.height);
  for (let y = 0; y < g.height; y++) z[y] = new Array(g.width).fill(null);
  const hw = g.H * g.W;
  for (let m = 0; m < g.n; m++) {
    const [oy, ox] = tileOrigin(g, m);
    for (let r = 0; r < g.H; r++) {
      const row = z[oy + r];
      const base = m * hw + r * g.W;
      for (let c = 0; c < g.W; c++) row[ox + c] = data[base + c];
    }
  }
  return z;
}

const customCache = new Map();

/**
 * Per mosaic cell the value of `label(m, r, c)` (null in gaps), for hover templates: by default [m, r, c]. Cached by
 * layout and `name`: the same array object lets Plotly.react skip it.
 * @param {Grid} g  @param {string} [name]  @param {(m: number, r: number, c: number) => any} [label]
 * @returns {any[][]}
 */
export function tileCustom(g, name = 'mrc', label = (m, r, c) => [m, r, c]) {
  const key = `${name}:${g.n}:${g.H}:${g.W}:${g.rows}:${g.cols}:${g.gap}:${g.colMajor}`;
  let cd = customCache.get(key);
  if (cd) return cd;
  cd = new Array(g.height);
  for (let y = 0; y < g.height; y++) cd[y] = new Array(g.width).fill(null);
  for (let m = 0; m < g.n; m++) {
    const [oy, ox] = tileOrigin(g, m);
    for (let r = 0; r < g.H; r++) for (let c = 0; c < g.W; c++) cd[oy + r][ox + c] = label(m, r, c);
  }
  customCache.set(key, cd);
  return cd;
}

/**
 * Which (tile, row, col) a mosaic cell is, or null for a gap or outside.
 * @param {Grid} g  @param {number} y  @param {number} x  @returns {{m: number, r: number, c: number} | null}
 */
export function cellAt(g, y, x) {
  if (y < 0 || x < 0 || y >= g.height || x >= g.width) return null;
  const tr = Math.floor(y / (g.H + g.gap)), r = y % (g.H + g.gap);
  const tc = Math.floor(x / (g.W + g.gap)), c = x % (g.W + g.gap);
  if (r >= g.H || c >= g.W) return null;
  const m = g.colMajor ? tc * g.rows + tr : tr * g.cols + tc;
  return m < g.n ? { m, r, c } : null;
}

/** Where (tile m, row r, col c) sits in the mosaic. @param {Grid} g @returns {{y: number, x: number}} */
export function cellPosition(g, m, r, c) {
  const [oy, ox] = tileOrigin(g, m);
  return { y: oy + r, x: ox + c };
}
