// The end of a run: the test set's confusion matrix (rows: the true digit, columns: what the network said), a
// browser of the digits it got wrong (click one: it opens in the visualizer, on the trained network), and the
// trained network itself: open it in the visualizer, download it, or go back to the pretrained one.

import { h, replace } from '../lib/dom.js';
import { FONT } from '../lib/plot.js';
import { jobEnded } from './state.js';
import { digitCanvas } from './paint.js';

const PAGE = 24; // thumbnails shown at a time

/**
 * @param {HTMLElement} root
 * @param {ReturnType<import('./actions.js').createLabActions>} act
 * @param {{digit: (index: number) => Promise<Uint8Array>, modelUrl: (id: string) => string}} io  digit: a test
 *   digit's pixels (fetched once each)
 */
export function createResultsView(root, act, io) {
  const use = h('button', { type: 'button', class: 'primary', 'data-testid': 'lab-use' }, 'Open in the visualizer');
  const download = h('a', { class: 'button', 'data-testid': 'lab-download', download: '' }, 'Download .npz');
  const back = h('button', { type: 'button', 'data-testid': 'lab-back' }, 'Back to the pretrained model');
  const usedNote = h('p', { class: 'hint', role: 'status', 'data-testid': 'lab-used' });
  use.addEventListener('click', async () => {
    if (await act.use()) document.getElementById('input-h')?.scrollIntoView({ behavior: 'smooth' });
  });
  back.addEventListener('click', () => act.back());
  const confusion = h('div', { class: 'lab-confusion', 'data-testid': 'lab-confusion' });
  const wrongTitle = h('h4', { class: 'mini-title' }, 'Digits it got wrong');
  const wrong = h('div', { class: 'lab-wrong', role: 'list', 'data-testid': 'lab-misclassified' });
  const more = h('button', { type: 'button', class: 'small quiet', 'data-testid': 'lab-more', hidden: true },
    'Show more');
  const body = h('div', { class: 'lab-results-body', hidden: true },
    h('div', { class: 'lab-confusion-box' }, confusion),
    h('div', { class: 'lab-wrong-box' }, wrongTitle,
      h('p', { class: 'hint' }, 'Each shows true → predicted. Click one to open it in the visualizer on the trained '
        + 'network, and walk its backward pass.'), wrong, more));
  root.append(h('div', { class: 'button-row lab-use-row' }, use, download, back), usedNote, body);

  let drawnFor = null;
  let shownCount = 0;

  function addThumbs(list, n) {
    for (const m of list.slice(shownCount, n)) {
      const btn = h('button', { type: 'button', class: 'lab-thumb', role: 'listitem', 'data-index': m.index,
        'data-testid': 'lab-wrong-digit', 'aria-label': `Test digit ${m.index}: a ${m.label} read as ${m.predicted}. `
          + 'Open it in the visualizer' },
      h('span', { class: 'lab-thumb-img' }), h('span', { class: 'lab-thumb-text' }, `${m.label} → ${m.predicted}`));
      btn.addEventListener('click', () => act.openDigit(m.index));
      wrong.append(btn);
      io.digit(m.index).then((bytes) => btn.firstChild.replaceWith(digitCanvas(bytes, { 'aria-hidden': 'true' })))
        .catch(() => {});
    }
    shownCount = Math.max(shownCount, Math.min(n, list.length));
  }

  function drawConfusion(done) {
    const z = done.confusion;
    const digits = [...Array(10).keys()].map(String);
    const text = z.map((row) => row.map((v) => (v ? String(v) : '')));
    window.Plotly.newPlot(confusion, [{
      type: 'heatmap', z, x: digits, y: digits, text, texttemplate: '%{text}', textfont: { size: 11 },
      colorscale: [[0, '#ffffff'], [0.02, '#e7eef8'], [1, '#1f4e8c']], showscale: false,
      hovertemplate: 'a %{y} read as %{x}: %{z} digits<extra></extra>', xgap: 1, ygap: 1,
    }], {
      margin: { l: 44, r: 8, t: 30, b: 40 }, font: { ...FONT, size: 12 }, paper_bgcolor: 'rgba(0,0,0,0)',
      title: { text: 'Confusion on the 10,000 test digits', font: { size: 13 }, x: 0.02 }, height: 320,
      xaxis: { title: { text: 'predicted', standoff: 4 }, type: 'category', fixedrange: true, side: 'bottom' },
      yaxis: { title: { text: 'true digit' }, type: 'category', autorange: 'reversed', fixedrange: true,
        scaleanchor: 'x' },
    }, { displaylogo: false, responsive: true, displayModeBar: false });
  }

  more.addEventListener('click', () => {
    const d = drawnFor?.done;
    if (d) addThumbs(d.misclassified, shownCount + PAGE);
    more.hidden = !d || shownCount >= d.misclassified.length;
  });

  return {
    /** @param {ReturnType<import('./state.js').initialLab>} lab  @param {string|null} trained */
    update(lab, trained) {
      const job = lab.job;
      const hasModel = !!job && (job.state === 'done' || (job.state === 'stopped' && !!job.started));
      use.disabled = !hasModel || lab.busy || trained === job.id;
      use.textContent = hasModel && trained === job.id ? 'Open in the visualizer ✓' : 'Open in the visualizer';
      download.hidden = !hasModel;
      if (hasModel) download.href = io.modelUrl(job.id);
      back.disabled = !trained || lab.busy;
      usedNote.textContent = trained ? 'The visualizer above runs the network trained here.'
        : 'The visualizer above runs the pretrained LeNet-5.';
      const done = jobEnded(job) ? job.done : null;
      body.hidden = !done;
      if (!done || drawnFor === job) return;
      drawnFor = job;
      drawConfusion(done);
      wrongTitle.textContent = `Digits it got wrong: ${done.misclassified_total.toLocaleString('en')}`
        + (done.misclassified.length < done.misclassified_total ? ` (the first ${done.misclassified.length} listed)`
          : '');
      replace(wrong);
      shownCount = 0;
      addThumbs(done.misclassified, PAGE);
      more.hidden = shownCount >= done.misclassified.length;
    },
  };
}
