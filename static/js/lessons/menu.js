// The header's "Lessons" button and the list it opens: each lesson's title, summary, number of cards and how far the
// learner got (from localStorage). A disclosure, not a modal: Escape or a click elsewhere closes it, and the focus
// returns to the button.

import { h, keepInWindow, replace } from '../lib/dom.js';
import { loadProgress } from './progress.js';

/**
 * @param {HTMLElement} slot  the header's #lessons-slot
 * @param {{onOpen: () => void, onPick: (id: string) => void}} on  onOpen: the list is wanted (fetch it once)
 * @returns {{update(list: null | {id: string, title: string, summary: string, cards: number}[] | {error: string}):
 *   void, close(): void, button: HTMLButtonElement}}
 */
export function createLessonMenu(slot, on) {
  const button = h('button', { type: 'button', class: 'lessons-button', 'aria-expanded': 'false',
    'aria-controls': 'lessons-menu', 'data-testid': 'lessons-open' }, 'Lessons');
  const list = h('ul', { class: 'lessons-list' });
  const menu = h('div', { id: 'lessons-menu', class: 'lessons-menu', role: 'region', 'aria-label': 'Guided lessons',
    'data-keys': 'own',
    'data-testid': 'lessons-menu', hidden: true },
  h('p', { class: 'hint' }, 'Short cards that set the page up and ask you to predict a number before it shows it.'),
  list);
  slot.classList.add('lessons-slot');
  slot.append(button, menu);
  let items = null;

  function setOpen(open) {
    menu.hidden = !open;
    button.setAttribute('aria-expanded', String(open));
    if (open) {
      keepInWindow(menu);
      on.onOpen();
      render();
      list.querySelector('button')?.focus();
    }
  }

  function render() {
    if (!items) { replace(list, h('li', { class: 'hint' }, 'Loading the lessons…')); return; }
    if ('error' in items) { replace(list, h('li', { class: 'hint' }, `The lessons could not be loaded: ${items.error}`)); return; }
    const progress = loadProgress();
    replace(list, ...items.map((x) => {
      const answered = progress[x.id]?.answered?.length ?? 0;
      return h('li', {}, h('button', { type: 'button', class: 'lesson-item', 'data-testid': `lesson-item-${x.id}`,
        onclick: () => { setOpen(false); on.onPick(x.id); } },
      h('b', {}, x.title), h('span', { class: 'lesson-item-summary' }, x.summary),
      h('span', { class: 'lesson-item-meta' }, `${x.cards} cards` + (answered ? ` · ${answered} answered` : ''))));
    }));
  }

  button.addEventListener('click', () => setOpen(menu.hidden));
  menu.addEventListener('keydown', (ev) => {
    if (ev.key === 'Escape') { setOpen(false); button.focus(); ev.stopPropagation(); }
  });
  document.addEventListener('click', (ev) => {
    if (!menu.hidden && !slot.contains(/** @type {Node} */ (ev.target))) setOpen(false);
  });

  return {
    /** The list has come: shown, and the focus on its first lesson if it was waiting on the button. */
    update(next) {
      items = next;
      if (menu.hidden) return;
      const waiting = document.activeElement === button || menu.contains(document.activeElement);
      render();
      if (waiting) list.querySelector('button')?.focus();
    },
    close: () => setOpen(false),
    button,
  };
}
