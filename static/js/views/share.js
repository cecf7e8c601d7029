// Shareable links: the address bar follows what the page shows (its fragment is the view, lib/viewcode.js), a
// "Copy link" control hands it over, and a link opened here (on arrival, or pasted into this tab) sets the page to
// its view. A damaged or outdated link opens the page as usual, with a notice in plain words; never a broken page.
// The fragment is never sent to the server: a shared view stays between the people who share it.

import { decodeView, encodeView, FORMAT } from '../lib/viewcode.js';
import { debounce } from '../lib/scheduler.js';
import { h, keepInWindow } from '../lib/dom.js';

/**
 * @param {HTMLElement} slot  where the control goes (the header's nav)
 * @param {{store: object, view: ReturnType<import('../view.js').createPageView>, notice: {show(lines: string[]):
 *   void}, defaultDigit: import('../view.js').Digit | null}} deps  defaultDigit: what the page shows on arrival, for
 *   a link without a digit of its own
 */
export function createShare(slot, { store, view, notice, defaultDigit }) {
  const button = h('button', { type: 'button', 'data-testid': 'copy-link',
    'aria-haspopup': 'dialog', 'aria-expanded': 'false',
    title: 'A link to this exact view: the digit, the target, how far backward went, the cell, the lesson card' },
  'Copy link');
  const field = h('input', { type: 'text', readonly: true, 'data-testid': 'share-url', id: 'share-url',
    'aria-label': 'Link to this view' });
  const status = h('p', { class: 'share-status', role: 'status', 'data-testid': 'share-status' });
  const close = h('button', { type: 'button', class: 'share-close', 'aria-label': 'Close' }, '×');
  const pop = h('div', { class: 'share-pop', role: 'dialog', 'aria-label': 'Share this view', hidden: true },
    h('label', { for: 'share-url' }, 'Anyone who opens this link sees this view:'), field, status, close);
  slot.append(h('span', { class: 'share' }, button, pop));

  let applying = 0; // while a view is being set, the address bar waits for the result
  let started = false;

  function fragment() {
    return encodeView(view.capture());
  }

  /** The address bar says what the page shows (replaceState: the back button is not filled with every stroke). */
  function write() {
    if (applying || !started) return;
    const next = `#${fragment()}`;
    if (location.hash !== next) history.replaceState(history.state, '', `${location.pathname}${location.search}${next}`);
  }
  const later = debounce(write, 250);
  store.subscribe(() => later());
  // the learning rate and momentum live in their fields, not in the store
  document.addEventListener('change', () => later());

  function hide() {
    pop.hidden = true;
    button.setAttribute('aria-expanded', 'false');
  }

  button.addEventListener('click', async () => {
    if (!pop.hidden) { hide(); return; }
    later.cancel();
    write();
    field.value = location.href;
    pop.hidden = false;
    button.setAttribute('aria-expanded', 'true');
    keepInWindow(pop);
    field.focus();
    field.select();
    try {
      await navigator.clipboard.writeText(field.value);
      status.textContent = 'Link copied.';
    } catch {
      status.textContent = 'Select the link and copy it (Ctrl+C).';
    }
  });
  close.addEventListener('click', () => { hide(); button.focus(); });
  pop.addEventListener('keydown', (ev) => { if (ev.key === 'Escape') { hide(); button.focus(); } });

  /** Set the page to a link's view; what could not be shown is said in the notice. */
  async function open(hash) {
    later.cancel();
    const read = decodeView(hash);
    if (!read) return false;
    if (!read.view) {
      notice.show([read.version
        ? `This link was made by another version of this page (link format ${read.version}; this page reads `
          + `format ${FORMAT}), so it opens as usual.`
        : 'This link is damaged beyond reading, so the page opens as usual.']);
      return false;
    }
    const lines = read.damaged.length
      ? [`Part of this link is damaged (${read.damaged.join(', ')}); the page shows the rest.`] : [];
    applying += 1;
    try {
      const { notes } = await view.apply(read.view.digit || !defaultDigit ? read.view
        : { digit: defaultDigit, ...read.view });
      lines.push(...notes);
    } catch (err) {
      lines.push(`This link's view could not be shown completely: ${err.message}.`);
    } finally {
      applying -= 1;
    }
    notice.show(lines);
    write();
    return true;
  }

  // A link pasted into this tab's address bar (the page's own writes replace the state and fire no hashchange). Read
  // from the event: a write that was already due may have put the old view back in the address meanwhile.
  window.addEventListener('hashchange', (ev) => {
    const hash = new URL(ev.newURL).hash;
    if (decodeView(hash)) open(hash);
  });

  return {
    /** The view in the address bar on arrival, if any: true when one was shown (the page then has its digit). */
    openFromAddress: () => open(location.hash),
    /** From now on the address bar follows the page. */
    start() {
      started = true;
      write();
    },
  };
}

/**
 * A notice under the header, for what a person should know about the page as a whole (a link that could not be
 * read, a part of it that did not fit). @param {HTMLElement} root
 */
export function createNotice(root) {
  const text = h('div', { class: 'notice-text' });
  const dismiss = h('button', { type: 'button', class: 'notice-close', 'aria-label': 'Dismiss this notice' }, '×');
  const box = h('div', { class: 'notice', role: 'status', 'data-testid': 'page-notice', hidden: true }, text, dismiss);
  root.append(box);
  dismiss.addEventListener('click', () => { box.hidden = true; });
  return {
    /** @param {string[]} lines  nothing to say: the notice stays hidden */
    show(lines) {
      text.replaceChildren(...lines.map((line) => h('p', {}, line)));
      box.hidden = lines.length === 0;
    },
  };
}
