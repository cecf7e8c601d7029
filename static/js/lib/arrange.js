// How a tensor is laid out as one heatmap, and how a clicked cell maps back to its index: feature maps as a mosaic,
// vectors as a strip (or folded when long), dense weights as a matrix, conv kernels as a filter × channel mosaic.
// Pure functions.

import { cellAt, cellPosition, grid, tileCustom } from './mosaic.js';

/**
 * @typedef {object} Arrangement
 * @property {import('./mosaic.js').Grid} grid
 * @property {'square'|'strip'|'matrix'} shape   how the figure is sized
 * @property {any[][]} customdata                 per cell, what the hover shows
 * @property {string} hover                        Plotly hovertemplate
 * @property {(cell: {m: number, r: number, c: number}) => number[]} toIndex  mosaic cell → tensor index
 * @property {(idx: number[]) => {y: number, x: number}} toCell               tensor index → mosaic cell
 * @property {{x: object, y: object|null}} [ticks]  labelled tile rows and columns (kernels: filter, channel)
 */

const VALUE = '<br><b>%{z:.7~g}</b><extra></extra>';

/**
 * @param {number[]} shape  the tensor's shape: (C, H, W), (K,), (K, D) or (F, C, KH, KW)
 * @param {{unit?: string, fold?: number, labels?: string[], rowName?: string, colName?: string}} [o]
 *   unit: what a 1-D entry is called (unit, class, input); fold: row length for a long vector
 * @returns {Arrangement}
 */
export function arrange(shape, o = {}) {
  if (shape.length === 4 && shape[1] === 1) {
    // one input channel: the F kernels as a square-ish mosaic, like feature maps
    const [F, , KH, KW] = shape;
    const g = grid({ n: F, H: KH, W: KW });
    return {
      grid: g, shape: 'square', customdata: tileCustom(g, 'k1', (m, r, c) => [m, 0, r, c]),
      hover: `filter %{customdata[0]}, channel 0, row %{customdata[2]}, col %{customdata[3]}${VALUE}`,
      toIndex: ({ m, r, c }) => [m, 0, r, c],
      toCell: ([f, , u, v]) => cellPosition(g, f, u, v),
    };
  }
  if (shape.length === 4) {
    const [F, C, KH, KW] = shape;
    const g = grid({ n: F * C, H: KH, W: KW, rows: C, colMajor: true });
    const centre = (k, n) => k * (n + g.gap) + (n - 1) / 2;
    return {
      grid: g, shape: 'matrix',
      ticks: {
        x: { vals: Array.from({ length: F }, (_, f) => centre(f, KW)), text: Array.from({ length: F }, (_, f) => `${f}`),
          title: 'filter' },
        y: { vals: Array.from({ length: C }, (_, c) => centre(c, KH)), text: Array.from({ length: C }, (_, c) => `${c}`),
          title: 'channel' },
      },
      customdata: tileCustom(g, `k${C}`, (m, r, c) => [Math.floor(m / C), m % C, r, c]),
      hover: `filter %{customdata[0]}, channel %{customdata[1]}, row %{customdata[2]}, col %{customdata[3]}${VALUE}`,
      toIndex: ({ m, r, c }) => [Math.floor(m / C), m % C, r, c],
      toCell: ([f, ch, u, v]) => cellPosition(g, f * C + ch, u, v),
    };
  }
  if (shape.length === 3) {
    const [C, H, W] = shape;
    const g = grid({ n: C, H, W });
    return {
      grid: g, shape: 'square', customdata: tileCustom(g),
      hover: `map %{customdata[0]} · row %{customdata[1]}, col %{customdata[2]}${VALUE}`,
      toIndex: ({ m, r, c }) => [m, r, c],
      toCell: ([m, r, c]) => cellPosition(g, m, r, c),
    };
  }
  if (shape.length === 2) {
    const [K, D] = shape;
    const g = grid({ n: 1, H: K, W: D });
    return {
      grid: g, shape: 'matrix', customdata: tileCustom(g),
      hover: `${o.rowName || 'row'} %{customdata[1]}, ${o.colName || 'col'} %{customdata[2]}${VALUE}`,
      toIndex: ({ r, c }) => [r, c],
      toCell: ([r, c]) => ({ y: r, x: c }),
    };
  }
  const [K] = shape;
  const unit = o.unit || 'unit';
  if (o.fold && K > o.fold) {
    const W = o.fold, H = Math.ceil(K / W);
    const g = grid({ n: 1, H, W });
    return {
      grid: g, shape: 'matrix',
      customdata: tileCustom(g, `fold${W}`, (m, r, c) => [r * W + c, r, c]),
      hover: `${unit} %{customdata[0]}${VALUE}`,
      toIndex: ({ r, c }) => [r * W + c],
      toCell: ([k]) => ({ y: Math.floor(k / W), x: k % W }),
    };
  }
  const g = grid({ n: 1, H: 1, W: K });
  return {
    grid: g, shape: 'strip', customdata: tileCustom(g),
    hover: `${unit} %{customdata[2]}${VALUE}`,
    toIndex: ({ c }) => [c],
    toCell: ([k]) => ({ y: 0, x: k }),
  };
}

/** Does the mosaic cell exist? (for clicks) @param {Arrangement} a  @param {number} y  @param {number} x */
export function indexAt(a, y, x) {
  const cell = cellAt(a.grid, y, x);
  return cell ? a.toIndex(cell) : null;
}
