// A bar chart: probabilities, ∂E/∂b, Δb, before/after comparisons.

import { h } from '../lib/dom.js';
import { baseLayout, createPlot } from '../lib/plot.js';

/**
 * @param {HTMLElement} root
 * @param {{title?: string, filename: string, yTitle?: string, xTitle?: string, height?: number}} opts
 * @returns {{update: (d: {traces: object[], labels?: string[], yrange?: number[], caption?: string,
 *   barmode?: string, showlegend?: boolean}) => Promise<void>, onBar: Function, element: HTMLElement}}
 */
export function createBars(root, opts) {
  const plotEl = h('div', { class: 'plot plot-bars', style: `height:${opts.height || 180}px` });
  const cap = h('p', { class: 'caption' });
  const fig = h('figure', { class: 'bars' }, opts.title ? h('figcaption', { class: 'hm-title', text: opts.title }) : null,
    plotEl, cap);
  root.append(fig);
  const plot = createPlot(plotEl, { filename: opts.filename, title: opts.title });
  const handlers = [];
  plot.onClick((pt) => { if (pt) for (const fn of handlers) fn(pt.pointIndex ?? pt.pointNumber, pt); });
  return {
    element: fig,
    update(d) {
      cap.textContent = d.caption || '';
      const n = d.labels ? d.labels.length : d.traces[0].y.length;
      const many = n > 24;
      const data = d.traces.map((t) => ({
        type: 'bar', x: d.labels || Array.from(t.y, (_, i) => i), hovertemplate: t.hover
          || `${opts.xTitle || 'index'} %{x}<br><b>%{y:.7~g}</b><extra>${t.name || ''}</extra>`,
        ...t, y: Array.from(t.y),
      }));
      const layout = baseLayout({
        margin: { l: 56, r: 8, t: 8, b: 36 },
        plot_bgcolor: '#ffffff',
        barmode: d.barmode || 'group',
        showlegend: !!d.showlegend,
        legend: { orientation: 'h', y: 1.12, x: 0 },
        bargap: 0.15,
        xaxis: { fixedrange: true, type: many ? 'linear' : 'category',
          title: opts.xTitle ? { text: opts.xTitle, standoff: 4 } : undefined, tickfont: { size: 13 }, zeroline: false,
          range: many ? [-0.5, n - 0.5] : undefined },
        yaxis: { fixedrange: true, range: d.yrange, zeroline: true, zerolinecolor: '#888', gridcolor: '#e5e7eb',
          exponentformat: 'e',
          title: opts.yTitle ? { text: opts.yTitle } : undefined },
      });
      return plot.show({ data, layout });
    },
    /** @param {(index: number) => void} fn */
    onBar(fn) { handlers.push(fn); },
  };
}
