// The lesson card in the side column: where the learner is (lesson, "Card 3 of 8", a progress bar), the idea in a
// few sentences with their own numbers, a question to answer before the page shows it (Check, Show me, a verdict
// read out by screen readers), and Previous / Next / Close. Built once; update() rewrites only what changed, so a
// number being typed is never lost. On a narrow screen the card can be folded to its header.

import { h, replace } from '../lib/dom.js';
import { fmt } from '../lib/format.js';
import { fill, reader } from './expr.js';

/** What the verdict says, by kind; {guess} is the learner's number. */
const SAYS = {
  right: 'Right, to 3 significant figures.',
  shown: 'Here is the answer.',
  higher: 'Not quite: the answer is higher than {guess}. Try again.',
  lower: 'Not quite: the answer is lower than {guess}. Try again.',
  sign: 'The sign is wrong: think about which way it goes. Try again.',
  nan: 'Type a number, such as −0.25, 12 or 1.5e−3.',
  wait: 'The page is still computing this card’s numbers: try again in a moment.',
};

/**
 * @param {HTMLElement} root  #lesson-view
 * @param {{onCheck: (text: string) => void, onShow: () => void, onPrev: () => void, onNext: () => void,
 *   onClose: () => void}} on
 */
export function createCardView(root, on) {
  const section = root.closest('section');
  const lessonName = h('p', { id: 'lesson-name', class: 'lesson-name', 'data-testid': 'lesson-name' });
  const count = h('span', { class: 'lesson-count', 'data-testid': 'lesson-count' });
  const bar = h('progress', { class: 'lesson-bar', 'data-testid': 'lesson-progress', max: '1', value: '0',
    'aria-label': 'Progress through the lesson' });
  const fold = h('button', { type: 'button', class: 'quiet small lesson-fold', 'aria-expanded': 'true',
    'aria-controls': 'lesson-body', 'data-testid': 'lesson-fold' }, 'Fold');
  const title = h('h2', { id: 'lesson-card-title', class: 'lesson-title', tabindex: '-1',
    'data-testid': 'lesson-title' });
  const status = h('p', { class: 'hint lesson-status', 'data-testid': 'lesson-status' });
  const text = h('div', { class: 'lesson-text', 'data-testid': 'lesson-text' });
  const prompt = h('label', { for: 'lesson-guess', class: 'lesson-prompt', 'data-testid': 'lesson-prompt' });
  const guess = h('input', { id: 'lesson-guess', type: 'text', inputmode: 'decimal', autocomplete: 'off',
    spellcheck: 'false', 'aria-describedby': 'lesson-rule', 'data-testid': 'lesson-guess' });
  const check = h('button', { type: 'submit', class: 'primary', 'data-testid': 'lesson-check' }, 'Check');
  const show = h('button', { type: 'button', class: 'quiet', 'data-testid': 'lesson-show' }, 'Show me');
  const form = h('form', { class: 'lesson-question', 'data-testid': 'lesson-question' },
    prompt, h('div', { class: 'lesson-answer-row' }, guess, check, show),
    h('p', { id: 'lesson-rule', class: 'hint' }, 'Predict it first: checked to 3 significant figures.'));
  const verdict = h('p', { class: 'lesson-verdict', role: 'status', 'aria-live': 'polite',
    'data-testid': 'lesson-verdict' });
  const answer = h('div', { class: 'lesson-answer', 'data-testid': 'lesson-answer', hidden: true });
  const prev = h('button', { type: 'button', 'data-testid': 'lesson-prev' }, '◂ Previous');
  const next = h('button', { type: 'button', class: 'primary', 'data-testid': 'lesson-next' }, 'Next ▸');
  const close = h('button', { type: 'button', class: 'quiet', 'data-testid': 'lesson-close' }, 'Close lesson');
  const body = h('div', { id: 'lesson-body', class: 'lesson-body' }, status, text, form, verdict, answer);
  root.append(
    h('div', { class: 'lesson-head' }, h('div', { class: 'lesson-where' }, lessonName, count), fold),
    bar, title, body,
    h('nav', { class: 'lesson-nav', 'aria-label': 'Lesson cards' }, prev, next, close));
  section.setAttribute('aria-labelledby', 'lesson-name lesson-card-title'); // the region reads: lesson, card
  section.removeAttribute('aria-label');

  form.addEventListener('submit', (ev) => { ev.preventDefault(); on.onCheck(guess.value); });
  show.addEventListener('click', () => on.onShow());
  prev.addEventListener('click', () => on.onPrev());
  next.addEventListener('click', () => on.onNext());
  close.addEventListener('click', () => on.onClose());
  fold.addEventListener('click', () => {
    const folded = section.dataset.folded !== 'true';
    section.dataset.folded = String(folded);
    fold.setAttribute('aria-expanded', String(!folded));
    fold.textContent = folded ? 'Unfold' : 'Fold';
  });
  // The keys of the page (→, n, p, r) step backprop; inside the card they belong to the card.
  root.dataset.keys = 'own';
  // The training lab lies below the page's columns, out of the side column's reach: while it is on screen the card
  // floats over it (a fact of the DOM, as the sheet's state is), so a question about the lab stays in sight.
  // On one column the card is fixed at the top of the screen, and the page begins below it (app's --lesson-h).
  new ResizeObserver(() => {
    document.documentElement.style.setProperty('--lesson-h', `${Math.ceil(section.getBoundingClientRect().height)}px`);
  }).observe(section);
  const labCard = document.getElementById('lab');
  if (labCard && 'IntersectionObserver' in window) {
    new IntersectionObserver(([entry]) => {
      section.classList.toggle('is-floating', entry.isIntersecting);
    }, { threshold: 0.2 }).observe(labCard);
  }

  let shownCard = null;
  let shownResult = null;
  let lastFill = [];

  return {
    /** Focus the card's title, as a screen reader's start of the card. */
    focus: () => title.focus({ preventScroll: window.matchMedia('(max-width: 860px)').matches }),
    /**
     * @param {null | {id: string, data: object, card: number, phase: string, message?: string,
     *   result: null | {kind: string, guess?: number, answer?: number}}} L  the store's lesson part
     * @param {import('../state.js').State} s
     */
    update(L, s) {
      section.hidden = !L;
      if (!L) { shownCard = null; return; }
      const card = L.data.cards[L.card];
      const n = L.data.cards.length;
      const key = `${L.id}/${L.card}`;
      if (key !== shownCard) {
        shownCard = key;
        section.scrollTop = 0; // a card that scrolls within itself starts at its top
        lessonName.textContent = L.data.title;
        count.textContent = `Card ${L.card + 1} of ${n}`;
        bar.max = n;
        bar.value = L.card + 1;
        bar.setAttribute('aria-valuetext', `card ${L.card + 1} of ${n}`);
        title.textContent = card.title;
        guess.value = '';
        prev.disabled = L.card === 0;
        next.disabled = L.card === n - 1;
        next.textContent = L.card === n - 1 ? 'Last card' : 'Next ▸';
        lastFill = [];
      }
      section.dataset.phase = L.phase;
      const ready = L.phase === 'ready';
      status.hidden = L.phase === 'ready' && !L.message;
      status.textContent = L.phase === 'failed' ? `This card could not set the page up: ${L.message}`
        : L.phase === 'ready' ? L.message : 'Setting the page up for this card…';
      const done = !!L.result && (L.result.kind === 'right' || L.result.kind === 'shown');
      check.disabled = !ready || done;
      show.disabled = !ready || done;
      guess.readOnly = done;

      // The card's numbers come from the page: filled again when the numbers they read change.
      const refs = [card, s.forward, s.backward, s.params, s.update, s.lab.rows, s.selection, s.target, L.result];
      if (refs.some((r, k) => r !== lastFill[k])) {
        lastFill = refs;
        const read = reader(s, card.setup);
        const words = done ? L.result.text : fill(card.text, read);
        replace(text, ...words.split(/\n\s*\n/).map((para) => h('p', {}, para)));
        if (!done) prompt.textContent = fill(card.question.prompt, read);
        answer.hidden = !done;
        if (done) {
          replace(answer, h('p', {}, 'The exact value: ', h('b', { 'data-testid': 'lesson-exact' },
            fmt(L.result.answer, 6)), '.'), h('p', {}, L.result.why));
        }
      }
      const r = L.result;
      // a new verdict comes into sight inside the card (on a phone the card scrolls within itself)
      if (r && r !== shownResult) requestAnimationFrame(() => verdict.scrollIntoView({ block: 'nearest' }));
      shownResult = r;
      verdict.dataset.verdict = r ? r.kind : '';
      verdict.textContent = r ? SAYS[r.kind].replace('{guess}', fmt(r.guess ?? 0, 6)) : '';
      verdict.className = `lesson-verdict${r ? ` is-${r.kind}` : ''}`;
    },
  };
}
