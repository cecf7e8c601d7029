// Plotly, painted lazily: a plot is drawn (newPlot once, then react) when it is on screen; plots below the fold are
// drawn in idle time, so a new drawing costs only what the learner can see. whenPainted() resolves when every paint
// started so far has finished: the performance marks wait on it.

import { PLOT_THEMES } from './colors.js';
import { wrapTitle } from './format.js';

const Plotly = window.Plotly;

// color: the light theme's; repaintAll() sets the theme's
export const FONT = { family: 'system-ui, -apple-system, "Segoe UI", Roboto, sans-serif', size: 13, color: '#1d232a' };

const slots = new Map(); // element -> slot

const isDark = () => document.documentElement.dataset.theme === 'dark';

/** The light chrome colours a figure may be written with (bars.js, update.js), each with its part of the palette. */
const LIGHT_PARTS = { '#ffffff': 'plot', '#fff': 'plot', '#c3ccd5': 'gap', '#e5e7eb': 'grid', '#eee': 'grid',
  '#888': 'zero', '#888888': 'zero', '#aab4be': 'frame', '#1d232a': 'font' };

/**
 * A figure's layout in the page's theme (<html data-theme>, views/theme.js): as written in light mode; in dark mode
 * its light chrome swapped for PLOT_THEMES.dark, part for part. Data colours (traces, colour scales, the orange
 * mark) are never touched. @param {object} layout @returns {object}
 */
export function themed(layout) {
  if (!isDark()) return layout;
  const t = PLOT_THEMES.dark;
  const swap = (c) => (typeof c === 'string' && LIGHT_PARTS[c.toLowerCase()] ? t[LIGHT_PARTS[c.toLowerCase()]] : c);
  const out = { ...layout, font: { ...(layout.font || FONT), color: t.font },
    plot_bgcolor: swap(layout.plot_bgcolor) };
  for (const [k, axis] of Object.entries(layout)) {
    if (/^[xy]axis\d*$/.test(k)) out[k] = { ...axis, gridcolor: t.grid, zerolinecolor: t.zero, linecolor: t.zero };
  }
  if (layout.shapes) {
    out.shapes = layout.shapes.map((s) => (s.line ? { ...s, line: { ...s.line, color: swap(s.line.color) } } : s));
  }
  return out;
}

/** Paint every figure again in the theme now in force (the theme switch calls it). FONT follows too, for the
 * figures that copy it (the training lab's charts, at their next draw). */
export function repaintAll() {
  FONT.color = PLOT_THEMES[isDark() ? 'dark' : 'light'].font;
  for (const slot of slots.values()) {
    if (!slot.hasFigure()) continue;
    slot.dirty = true;
    if (slot.visible && slot.el.offsetParent !== null) slot.paint();
  }
  queueIdle();
}
const inflight = new Set();
let idleQueued = false;

const observer = new IntersectionObserver((entries) => {
  for (const e of entries) {
    const slot = slots.get(e.target);
    if (!slot) continue;
    slot.visible = e.isIntersecting;
    if (slot.visible && slot.dirty) slot.paint();
  }
}, { rootMargin: '150px 0px' });

function queueIdle() {
  if (idleQueued) return;
  idleQueued = true;
  const run = (deadline) => {
    idleQueued = false;
    for (const slot of slots.values()) {
      if (!slot.dirty || !slot.el.isConnected || slot.el.offsetParent === null) continue;
      if (deadline.timeRemaining() < 12 && !deadline.didTimeout) { queueIdle(); return; }
      slot.paint();
    }
  };
  (window.requestIdleCallback || ((f) => setTimeout(() => f({ timeRemaining: () => 50, didTimeout: true }), 50)))(
    run, { timeout: 2000 });
}

/** Resolves when every paint started so far is done. */
export function whenPainted() {
  return Promise.all([...inflight]);
}

/** The figure for a PNG: the heatmap's colour bar shown with its title (on screen it is an HTML legend, cheaper to
 * redraw), and a heading. */
function exportFigure(gd, title, colorbar, width) {
  const data = gd.data.map((t, i) => (t.type === 'heatmap' && i === gd.data.length - 1 && colorbar
    ? { ...t, showscale: true, colorbar: { title: { text: colorbar }, thickness: 14 } } : t));
  // The whole title, on as many lines as it takes (about 7.5 px a character at 14 px), never cut at the edge.
  const heading = wrapTitle(title, Math.max(20, Math.floor((width - 30) / 7.5)));
  // a PNG has no card behind it: in dark mode its paper is the card's colour, or its light text would be lost
  const layout = { ...gd.layout, title: { text: heading.text, font: { size: 14 } },
    paper_bgcolor: isDark() ? PLOT_THEMES.dark.paper : gd.layout.paper_bgcolor,
    margin: { ...(gd.layout.margin || {}), t: 22 + 18 * heading.lines, r: colorbar ? 100 : 20 } };
  return { data, layout, extraHeight: 18 * heading.lines };
}

/**
 * @param {HTMLElement} el  @param {{filename: string, title?: string}} opts  (title: a heading for the PNG)
 * @returns {{show: (fig: {data: any[], layout: any, colorbar?: string}) => Promise<void>,
 *   onClick: (fn: Function) => void, element: HTMLElement}}
 */
export function createPlot(el, opts) {
  const config = {
    displaylogo: false,
    // on touch screens the mode bar would sit on top of the plot for good: leave it to pointers that hover
    displayModeBar: window.matchMedia('(hover: none)').matches ? false : 'hover',
    responsive: true,
    modeBarButtonsToRemove: ['select2d', 'lasso2d', 'autoScale2d', 'toggleSpikelines', 'hoverClosestCartesian',
      'hoverCompareCartesian', 'toImage', 'zoomIn2d', 'zoomOut2d', 'sendChartToCloud', 'sendDataToCloud'],
    modeBarButtonsToAdd: [{
      name: 'Download this plot as PNG',
      icon: Plotly.Icons.camera,
      click: (gd) => {
        const width = gd._fullLayout.width + 90;
        const { data, layout, extraHeight } = exportFigure(gd, opts.title || opts.filename, fig && fig.colorbar, width);
        return Plotly.downloadImage({ data, layout },
          { format: 'png', filename: opts.filename, scale: 2, width, height: gd._fullLayout.height + 22 + extraHeight });
      },
    }],
  };
  let fig = null, drawn = false, chain = Promise.resolve();
  const clickHandlers = [];
  const onPlotlyClick = (ev) => { for (const fn of clickHandlers) fn(ev.points[0], ev); };
  const relayoutHandlers = [];
  const onPlotlyRelayout = (ev) => { for (const fn of relayoutHandlers) fn(ev); };
  const slot = {
    el, visible: false, dirty: false,
    hasFigure: () => fig !== null,
    paint() {
      if (!slot.dirty || !fig) return chain;
      slot.dirty = false;
      const f = fig, layout = themed(fig.layout);
      const p = chain.then(() => (drawn ? Plotly.react(el, f.data, layout, config)
        : Plotly.newPlot(el, f.data, layout, config))).then(() => {
        drawn = true;
        // again after every paint: when react falls back to a full newPlot, Plotly drops the graph's listeners
        el.removeListener('plotly_click', onPlotlyClick);
        el.on('plotly_click', onPlotlyClick);
        el.removeListener('plotly_relayout', onPlotlyRelayout);
        el.on('plotly_relayout', onPlotlyRelayout);
      });
      chain = p.catch(() => {});
      inflight.add(p);
      p.finally(() => inflight.delete(p)).catch(() => {});
      return p;
    },
  };
  slots.set(el, slot);
  observer.observe(el);
  return {
    element: el,
    show(newFig) {
      fig = newFig;
      slot.dirty = true;
      if (slot.visible && el.offsetParent !== null) return slot.paint();
      queueIdle();
      return Promise.resolve();
    },
    onClick(fn) { clickHandlers.push(fn); },
    /** @param {(update: object) => void} fn  called with Plotly's relayout update (a zoom, a pan, a reset) */
    onRelayout(fn) { relayoutHandlers.push(fn); },
    /** Change the drawn layout in place (e.g. snap a zoom to whole cells). @param {object} update */
    relayout(update) {
      if (!drawn) return chain;
      chain = chain.then(() => Plotly.relayout(el, update)).catch(() => {});
      return chain;
    },
  };
}

/** Axes for a heatmap drawn as an image: no ticks, row 0 at the top, square cells. */
export function imageAxes() {
  return {
    xaxis: { visible: false, fixedrange: true, constrain: 'domain' },
    yaxis: { visible: false, fixedrange: true, autorange: 'reversed', scaleanchor: 'x', constrain: 'domain' },
  };
}

/** The base layout: small margins, the page's font, gaps between tiles in a soft grey. */
export function baseLayout(extra = {}) {
  return {
    margin: { l: 4, r: 4, t: 4, b: 4 },
    font: FONT,
    paper_bgcolor: 'rgba(0,0,0,0)',
    plot_bgcolor: '#c3ccd5',
    hoverlabel: { font: { size: 14, family: FONT.family } },
    ...extra,
  };
}
