// The phone layout's bottom sheet: on a narrow screen "This step" and the neuron inspector leave the page's flow for
// a sheet above the sticky step bar, so that the explanation sits beside the layer it explains instead of thousands
// of pixels below it. Closed, the sheet keeps its handle and tabs on screen; a tap (or a swipe up) opens it, the ×
// (or a swipe down) closes it. On a wide screen the cards go back where the page put them and the sheet is not shown.
// Whether it is open is a fact of the DOM (data-open), like the kernels' toggle: nothing else reads it.

import { h } from '../lib/dom.js';

/** The phone layout applies below this width: the same number as app.css's phone block. */
export const PHONE = '(max-width: 640px)';

/**
 * @param {{bar: HTMLElement, tabs: {key: string, label: string, card: HTMLElement}[]}} o
 *   bar: the step controls, fixed at the bottom on a phone (the sheet sits on top of it)
 * @returns {{reveal: (key: string, o?: {auto?: boolean}) => void, close: () => void, isPhone: () => boolean,
 *   element: HTMLElement}}
 */
export function createSheet({ bar, tabs }) {
  const media = window.matchMedia(PHONE);
  const body = h('div', { class: 'sheet-body', id: 'sheet-body' });
  const handle = h('button', { type: 'button', class: 'sheet-handle', 'data-testid': 'sheet-handle',
    'aria-controls': 'sheet-body', 'aria-expanded': 'false', 'aria-label': 'Open or close the explanation sheet' });
  const tabButtons = tabs.map((t) => h('button', { type: 'button', class: 'sheet-tab quiet small', role: 'tab',
    'data-testid': `sheet-tab-${t.key}`, 'aria-selected': 'false', onclick: () => reveal(t.key) }, t.label));
  const close = h('button', { type: 'button', class: 'sheet-close quiet small', 'data-testid': 'sheet-close',
    'aria-label': 'Close the sheet', onclick: () => { dismissed = true; setOpen(false); } }, '×');
  const head = h('div', { class: 'sheet-head' }, handle,
    h('div', { class: 'sheet-tabs', role: 'tablist' }, ...tabButtons), close);
  const sheet = h('section', { class: 'sheet', 'data-testid': 'sheet', 'data-open': 'false',
    'aria-label': 'This step and the neuron inspector' }, head, body);
  document.body.append(sheet);
  // Where each card lives on a wide screen, to put it back.
  const homes = tabs.map((t) => ({ card: t.card, parent: t.card.parentNode, next: t.card.nextSibling }));
  let active = tabs[0].key;
  // Closed by the learner: a backward step does not open it again; a tap on a cell or a tab does.
  let dismissed = false;

  function setOpen(open) {
    sheet.dataset.open = String(open);
    handle.setAttribute('aria-expanded', String(open));
  }

  function show(key) {
    active = key;
    tabs.forEach((t, k) => {
      t.card.hidden = media.matches && t.key !== key;
      tabButtons[k].setAttribute('aria-selected', String(t.key === key));
      tabButtons[k].classList.toggle('is-on', t.key === key);
    });
  }

  /** Open the sheet on a tab. auto: opened by a step, not by the learner (a dismissed sheet stays closed). */
  function reveal(key, { auto = false } = {}) {
    if (!media.matches || (auto && dismissed)) return;
    if (!auto) dismissed = false;
    show(key);
    setOpen(true);
  }

  handle.addEventListener('click', () => {
    const open = sheet.dataset.open !== 'true';
    dismissed = !open;
    setOpen(open);
  });
  let startY = null;
  head.addEventListener('touchstart', (ev) => { startY = ev.touches[0].clientY; }, { passive: true });
  head.addEventListener('touchend', (ev) => {
    if (startY === null) return;
    const dy = ev.changedTouches[0].clientY - startY;
    startY = null;
    if (Math.abs(dy) < 30) return;
    dismissed = dy > 0;
    setOpen(dy < 0);
  });

  // The bar's height, for the sheet to sit on it and for the page to end above both.
  new ResizeObserver(() => {
    document.documentElement.style.setProperty('--bar-h', `${Math.ceil(bar.getBoundingClientRect().height)}px`);
  }).observe(bar);

  function layout() {
    if (media.matches) {
      for (const t of tabs) body.append(t.card);
    } else {
      for (const home of [...homes].reverse()) {
        home.parent.insertBefore(home.card, home.next?.parentNode === home.parent ? home.next : null);
      }
      setOpen(false);
    }
    show(active);
  }
  media.addEventListener('change', layout);
  layout();

  return {
    element: sheet, reveal,
    close: () => setOpen(false),
    isPhone: () => media.matches,
  };
}
