// One heatmap with its colour legend and caption: a feature-map mosaic, a strip (1×K), a matrix or a kernel mosaic
// (see lib/arrange.js). Every map, δ, gradient and weight on the page is one of these.

import { caption, cssGradient, scaleFor } from '../lib/colors.js';
import { h, replace } from '../lib/dom.js';
import { fmt } from '../lib/format.js';
import { indexAt } from '../lib/arrange.js';
import { tile } from '../lib/mosaic.js';
import { baseLayout, createPlot, imageAxes } from '../lib/plot.js';

const TOUCH = window.matchMedia('(hover: none)');
let openTip = null;

/** "map 3 · row 4, col 5" and the like, for a tensor index of (C, H, W), (F, C, KH, KW), (K, D) or (K,). */
function where(idx) {
  if (idx.length === 4) return `filter ${idx[0]}, channel ${idx[1]} · row ${idx[2]}, col ${idx[3]}`;
  if (idx.length === 3) return `map ${idx[0]} · row ${idx[1]}, col ${idx[2]}`;
  if (idx.length === 2) return `row ${idx[0]}, col ${idx[1]}`;
  return `#${idx[0]}`;
}

/** The tapped cell's value, just above the cell (below it near the top edge). */
function showTip(tip, plotEl, pt, idx) {
  if (openTip && openTip !== tip) openTip.hidden = true;
  openTip = tip;
  tip.textContent = `${where(idx)}: ${fmt(pt.z, 4)}`;
  tip.dataset.value = String(pt.z);
  tip.hidden = false;
  const x = plotEl.offsetLeft + pt.xaxis._offset + pt.xaxis.d2p(pt.x);
  const y = plotEl.offsetTop + pt.yaxis._offset + pt.yaxis.d2p(pt.y);
  const width = tip.offsetWidth, room = tip.offsetParent?.clientWidth ?? width;
  tip.style.left = `${Math.max(0, Math.min(room - width, x - width / 2))}px`;
  tip.style.top = `${y - tip.offsetHeight - 8 < 0 ? y + 10 : y - tip.offsetHeight - 8}px`;
}

/**
 * A zoom or pan snapped to whole cells: each range's ends on cell edges (k − ½), inside the mosaic, at least one cell
 * wide. @param {object} ev Plotly's relayout update  @param {import('../lib/mosaic.js').Grid} g
 * @returns {object|null} the update that snaps it, null when it already is snapped (or is not a zoom)
 */
export function snapToCells(ev, g) {
  const update = {};
  for (const [axis, n] of [['xaxis', g.width], ['yaxis', g.height]]) {
    const a = ev[`${axis}.range[0]`], b = ev[`${axis}.range[1]`];
    if (a === undefined || b === undefined) continue;
    const lo = Math.max(-0.5, Math.floor(Math.min(a, b) + 0.5) - 0.5);
    const hi = Math.min(n - 0.5, Math.max(lo + 1, Math.ceil(Math.max(a, b) - 0.5) + 0.5));
    const range = a <= b ? [lo, hi] : [hi, lo]; // a reversed axis (row 0 at the top) keeps its order
    if (range[0] !== a || range[1] !== b) update[`${axis}.range`] = range;
  }
  return Object.keys(update).length ? update : null;
}

/** Buttons that zoom and pan a figure by halves, snapped to whole cells: a touch screen's zoom, where a drag must
 * keep scrolling the page. @param {HTMLElement} plotEl Plotly's graph div  @param {{relayout: Function}} plot
 * @param {() => (import('../lib/arrange.js').Arrangement|null)} shown  @returns {HTMLElement} */
function zoomTools(plotEl, plot, shown) {
  function move(kind) {
    const full = plotEl._fullLayout, a = shown();
    if (!full || !a) return;
    const extent = { x: [-0.5, a.grid.width - 0.5], y: [-0.5, a.grid.height - 0.5] };
    const span = (r) => [Math.min(...r), Math.max(...r)];
    const next = { x: span(full.xaxis.range), y: span(full.yaxis.range) };
    for (const k of ['x', 'y']) {
      const [lo, hi] = next[k], w = hi - lo, mid = (lo + hi) / 2;
      const [step, sign] = { left: ['x', -1], right: ['x', 1], up: ['y', -1], down: ['y', 1] }[kind] || [];
      if (kind === 'in') next[k] = [mid - w / 4, mid + w / 4];
      else if (kind === 'out') next[k] = [mid - w, mid + w];
      else if (kind === 'all') next[k] = extent[k];
      else if (step === k) next[k] = [lo + (sign * w) / 2, hi + (sign * w) / 2];
      // inside the mosaic, as wide as it fits
      const [e0, e1] = extent[k], width = Math.min(next[k][1] - next[k][0], e1 - e0);
      const start = Math.max(e0, Math.min(e1 - width, next[k][0]));
      next[k] = [start, start + width];
    }
    // Plotly's y runs from the bottom: row 0 at the top is the range's end
    const ev = { 'xaxis.range[0]': next.x[0], 'xaxis.range[1]': next.x[1], 'yaxis.range[0]': next.y[1],
      'yaxis.range[1]': next.y[0] };
    plot.relayout(snapToCells(ev, a.grid) || { 'xaxis.range': next.x, 'yaxis.range': [next.y[1], next.y[0]] });
  }
  const b = (kind, text, label) => h('button', { type: 'button', class: 'quiet small', 'aria-label': label,
    'data-testid': `zoom-${kind}`, onclick: () => move(kind) }, text);
  return h('div', { class: 'zoom-tools', role: 'group', 'aria-label': 'Zoom and pan' },
    b('in', '+', 'Zoom in'), b('out', '−', 'Zoom out'), b('left', '◂', 'Pan left'), b('right', '▸', 'Pan right'),
    b('up', '▴', 'Pan up'), b('down', '▾', 'Pan down'), b('all', 'All', 'Show the whole matrix'));
}

/**
 * @param {HTMLElement} root  where the figure goes
 * @param {{title: string, legend: string, filename: string, wide?: boolean, pngTitle?: string, zoom?: boolean}} opts
 *   legend: what the colours are (e.g. "δ = ∂E/∂net"), also the colour bar's title in an exported PNG; zoom: drag to
 *   zoom and pan at whole cells (with a mouse: on a touch screen a drag scrolls the page)
 * @returns {{update: Function, clear: Function, onCell: Function, setTitle: Function, element: HTMLElement}}
 */
export function createHeatmap(root, opts) {
  const plotEl = h('div', { class: 'plot' });
  const lo = h('span', { class: 'legend-lo' }), hi = h('span', { class: 'legend-hi' });
  const bar = h('span', { class: 'legend-bar' });
  const legendTitle = h('span', { class: 'legend-title', text: opts.legend });
  const legend = h('div', { class: 'legend', title: 'colour scale' }, legendTitle, lo, bar, hi);
  const cap = h('p', { class: 'caption' });
  const placeholder = h('p', { class: 'placeholder', hidden: true });
  const title = h('figcaption', { class: 'hm-title', text: opts.title });
  const fig = h('figure', { class: `hm${opts.wide ? ' wide' : ''}` }, title, placeholder, plotEl, legend, cap);
  root.append(fig);
  const plot = createPlot(plotEl, { filename: opts.filename, title: opts.pngTitle || opts.title });
  const zoom = !!opts.zoom && !TOUCH.matches;
  if (zoom) {
    plot.onRelayout((ev) => {
      const update = arrangement && snapToCells(ev, arrangement.grid);
      if (update) plot.relayout(update);
    });
  }
  const touchZoom = !!opts.zoom && TOUCH.matches;
  if (touchZoom) fig.insertBefore(zoomTools(plotEl, plot, () => arrangement), legend);
  let arrangement = null;
  const cellHandlers = [];
  // Touch screens have no hover: a tapped cell shows its index and value beside it.
  const tip = h('output', { class: 'cell-tip', 'data-testid': 'cell-value', hidden: true });
  fig.append(tip);
  let shownValues = null;
  plot.onClick((pt) => {
    if (!arrangement || !pt) return;
    const idx = indexAt(arrangement, pt.y, pt.x);
    if (idx && TOUCH.matches) showTip(tip, plotEl, pt, idx);
    if (idx) for (const fn of cellHandlers) fn(idx);
  });

  // Keyboard and screen readers: the plot is one focusable group named by its title, shape and value range (a
  // group, not an img: an img's children are hidden, and Plotly's PNG button is a child); the arrow keys move a
  // highlighted cell whose index and value are announced (a live region), Enter or Space opens it as a click
  // does. data-keys="own": main.js's ←/→ stepping leaves a focused heatmap its arrows.
  plotEl.tabIndex = 0;
  plotEl.setAttribute('role', 'group');
  plotEl.setAttribute('aria-roledescription', 'heatmap');
  plotEl.dataset.keys = 'own';
  plotEl.setAttribute('aria-label', `${opts.title}: not drawn yet`);
  const live = h('p', { class: 'visually-hidden', 'aria-live': 'polite', 'data-testid': 'heatmap-cell' });
  fig.append(live);
  let shown = null;  // what update() drew: {fig, z (the mosaic, gaps null), shape, min, max}
  let cursor = null; // the keyboard's cell in the mosaic, {y, x}; null until an arrow key is pressed

  /** The figure with the keyboard's cell outlined: white under black, visible on every colour of both scales. */
  const withCursor = () => {
    if (!cursor) return shown.fig;
    const { y, x } = cursor;
    const box = (color, width) => ({ type: 'rect', x0: x - 0.5, x1: x + 0.5, y0: y - 0.5, y1: y + 0.5,
      line: { color, width } });
    const layout = shown.fig.layout;
    return { ...shown.fig,
      layout: { ...layout, shapes: [...(layout.shapes || []), box('#ffffff', 5), box('#000000', 2)] } };
  };
  const describe = () => {
    if (!shown) return;
    const range = shown.min <= shown.max ? `from ${fmt(shown.min, 4)} to ${fmt(shown.max, 4)}` : 'all blank';
    plotEl.setAttribute('aria-label', `${title.textContent}: ${shown.shape.join(' × ')} values ${range}. `
      + 'Arrow keys read the cells, Enter opens one.');
  };
  const announce = () => {
    const idx = indexAt(arrangement, cursor.y, cursor.x);
    const v = shown.z[cursor.y][cursor.x];
    live.textContent = `${legendTitle.textContent} at (${idx.join(', ')}): ${fmt(v, 4)}`;
    live.dataset.value = String(v);
    live.dataset.index = idx.join(',');
  };
  const MOVES = { ArrowUp: [-1, 0], ArrowDown: [1, 0], ArrowLeft: [0, -1], ArrowRight: [0, 1] };
  plotEl.addEventListener('keydown', (ev) => {
    if (!shown || !arrangement) return;
    const g = arrangement.grid;
    if (ev.key in MOVES) {
      ev.preventDefault();
      const [dy, dx] = MOVES[ev.key];
      if (!cursor) cursor = { y: 0, x: 0 };
      else {
        // over the gaps between tiles to the next cell; at the edge, stay
        let { y, x } = cursor;
        do { y += dy; x += dx; } while (y >= 0 && y < g.height && x >= 0 && x < g.width && !indexAt(arrangement, y, x));
        if (y >= 0 && y < g.height && x >= 0 && x < g.width) cursor = { y, x };
      }
      announce();
      plot.show(withCursor());
    } else if ((ev.key === 'Enter' || ev.key === ' ') && cursor) {
      ev.preventDefault();
      const idx = indexAt(arrangement, cursor.y, cursor.x);
      if (idx) for (const fn of cellHandlers) fn(idx);
    }
  });
  plotEl.addEventListener('blur', () => {
    if (!cursor) return;
    cursor = null;
    if (shown) plot.show(shown.fig);
  });

  return {
    element: fig,
    /**
     * @param {object} d
     * @param {ArrayLike<number>} d.values the tensor's data, flat
     * @param {import('../lib/arrange.js').Arrangement} d.arrangement  how it is laid out
     * @param {boolean} [d.signed] force the diverging scale  @param {object} [d.scale] a scale from lib/colors
     * @param {any[]} [d.under] traces drawn below (e.g. max-pool winners)  @param {string} [d.caption] extra words
     * @param {number[]} [d.mark] a tensor index to outline  @param {string[]} [d.xlabels] tick labels (strips)
     * @param {string} [d.hover] a hovertemplate instead of the arrangement's
     * @returns {Promise<void>}
     */
    update(d) {
      if (d.values !== shownValues) tip.hidden = true; // a new mark (the tapped cell's) keeps the tip
      shownValues = d.values;
      arrangement = d.arrangement;
      const g = arrangement.grid;
      const scale = d.scale || scaleFor(d.values, { signed: d.signed });
      fig.classList.remove('is-empty');
      placeholder.hidden = true;
      plotEl.hidden = legend.hidden = false;
      plotEl.className = `plot plot-${arrangement.shape}${d.xlabels ? ' has-labels' : ''}${arrangement.ticks ? ' has-ticks' : ''}`;
      if (arrangement.shape !== 'strip') plotEl.style.aspectRatio = `${g.width} / ${g.height}`;
      lo.textContent = fmt(scale.zmin, 3);
      hi.textContent = fmt(scale.zmax, 3);
      bar.style.background = cssGradient(scale.colorscale);
      cap.textContent = caption(scale) + (d.caption ? ` · ${d.caption}` : '')
        + (zoom ? ' · drag to zoom (whole cells), double-click for all' : '');
      fig.dataset.zmax = String(scale.zmax);
      const trace = {
        type: 'heatmap', z: tile(d.values, g), customdata: arrangement.customdata,
        hovertemplate: d.hover || arrangement.hover, hoverongaps: false,
        zmin: scale.zmin, zmax: scale.zmax, colorscale: scale.colorscale, showscale: false,
      };
      const layout = baseLayout(arrangement.shape === 'square' ? imageAxes() : {
        xaxis: { visible: !!d.xlabels, fixedrange: true, tickmode: 'array', tickvals: d.xlabels?.map((_, i) => i),
          ticktext: d.xlabels, showgrid: false, zeroline: false, ticks: '', tickfont: { size: 14 } },
        yaxis: { visible: false, fixedrange: true, autorange: 'reversed' },
      });
      if (d.xlabels) layout.margin = { l: 4, r: 4, t: 4, b: 26 };
      if (zoom) {
        layout.xaxis = { ...layout.xaxis, fixedrange: false };
        layout.yaxis = { ...layout.yaxis, fixedrange: false };
        layout.dragmode = 'zoom';
        layout.uirevision = opts.filename; // a redraw (the next step's numbers) keeps the learner's zoom
      } else if (touchZoom) layout.uirevision = opts.filename;
      const t = arrangement.ticks;
      if (t) {
        const axis = (a, spec) => ({ ...layout[a], visible: true, tickmode: 'array', tickvals: spec.vals,
          ticktext: spec.text, showgrid: false, zeroline: false, ticks: '', tickfont: { size: 11 },
          title: { text: spec.title, font: { size: 11 }, standoff: 2 } });
        layout.xaxis = axis('xaxis', t.x);
        layout.yaxis = axis('yaxis', t.y);
        layout.margin = { l: 40, r: 4, t: 4, b: 34 };
      }
      // a frame, so that white (zero) tiles at the edge still show where the mosaic ends
      layout.shapes = [{ type: 'rect', x0: -0.5, x1: g.width - 0.5, y0: -0.5, y1: g.height - 0.5,
        line: { color: '#aab4be', width: 1 } }];
      if (d.mark) {
        const { y, x } = arrangement.toCell(d.mark);
        layout.shapes.push({ type: 'rect', x0: x - 0.5, x1: x + 0.5, y0: y - 0.5, y1: y + 0.5,
          line: { color: '#f08c00', width: 3 } });
      }
      let min = Infinity, max = -Infinity;
      for (let i = 0; i < d.values.length; i++) { // NaN: a cell left blank (e.g. not a max-pool window's winner)
        const v = d.values[i];
        if (Number.isFinite(v)) { min = Math.min(min, v); max = Math.max(max, v); }
      }
      const last = arrangement.toIndex({ m: g.n - 1, r: g.H - 1, c: g.W - 1 }); // the tensor's last index
      shown = { fig: { data: [...(d.under || []), trace], layout, colorbar: opts.legend }, z: trace.z, min, max,
        shape: last.length === 1 ? [d.values.length] : last.map((k) => k + 1) };
      if (cursor && !indexAt(arrangement, cursor.y, cursor.x)) cursor = null; // another layout: start again
      describe();
      return plot.show(withCursor());
    },
    /** Hide the plot and say why (e.g. "pending: not reached yet"). @param {string} message */
    clear(message) {
      tip.hidden = true;
      shownValues = null;
      arrangement = null;
      fig.classList.add('is-empty');
      replace(placeholder, message);
      placeholder.hidden = false;
      plotEl.hidden = legend.hidden = true;
      cap.textContent = '';
      shown = cursor = null;
      plotEl.setAttribute('aria-label', `${title.textContent}: ${message}`);
    },
    /** @param {string} text  @param {string} [legendText] */
    setTitle(text, legendText) {
      title.textContent = text;
      if (legendText) legendTitle.textContent = legendText;
      describe();
    },
    /** @param {(idx: number[]) => void} fn  called with the tensor index of a clicked cell */
    onCell(fn) { cellHandlers.push(fn); },
  };
}
