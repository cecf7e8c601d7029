// Guided lessons (issue 15): a textbook that drives the page. The header's "Lessons" button lists them; a lesson's
// card, in the side column, sets the page up (setup.js), explains one idea with the learner's own numbers and asks
// them to predict one (expr.js checks it to 3 significant figures), then shows it. What is open lives in the store
// (state.lesson); how far the learner got, in localStorage (progress.js). Lessons are data: static/lessons/*.json,
// validated by the server (app/lessons.py), written as docs/lessons.md says.

import { createCardView } from './card.js';
import { evaluate, fill, parseGuess, reader, verdict } from './expr.js';
import { createLessonMenu } from './menu.js';
import { loadProgress, rememberAnswered, rememberCard } from './progress.js';
import { applySetup } from './setup.js';

/** The page runs another network than the served one, whose layers the lessons name. */
const otherModel = (s) => !!s.trained || s.model.source === 'uploaded';

/**
 * @param {HTMLElement} root  the lesson card's box (#lesson-view, in the side column)
 * @param {{api: object, store: ReturnType<import('../state.js').createStore>, actions: object,
 *   view: {apply: (v: object) => Promise<void>, register: Function}, lab: {actions: object},
 *   opener: HTMLElement}} deps  opener: a slot in the header for the button
 * @returns {{open(id: string, card: number): Promise<void>, close(): void,
 *   current(): null | {id: string, card: number},
 *   list(): Promise<Array<{id: string, title: string, summary: string, cards: number}>>}}
 */
export function createLessons(root, deps) {
  const { store, view } = deps;
  const lessonOf = () => store.get().lesson ?? null;
  const setLesson = (patch) => store.set({ lesson: patch === null ? null : { ...lessonOf(), ...patch } });
  const cache = new Map(); // lesson id -> its data, as the server sent it: fetched once per page
  let listing = null;
  let applying = Promise.resolve(); // setups run one after another: a card's view never mixes with the last one's

  function list() {
    if (!listing) {
      listing = deps.api.lessons();
      listing.then((items) => menu.update(items), (err) => { listing = null; menu.update({ error: err.message }); });
    }
    return listing;
  }

  async function lesson(id) {
    if (!cache.has(id)) {
      const p = deps.api.lesson(id);
      cache.set(id, p);
      p.catch(() => cache.delete(id));
    }
    return cache.get(id);
  }

  /** Set the page up for `setup`; the phase says when it is done (the card's question waits for it). */
  function setUp(setup, key) {
    if (otherModel(store.get())) {
      // lessons name the served network's layers (the server checked them against it), not another's
      setLesson({ phase: 'failed', otherModel: true, message: 'this lesson is written for the pretrained network, '
        + 'and this page runs another (trained in the lab, or uploaded). Go back to the pretrained model to follow '
        + 'it.' });
      return Promise.resolve();
    }
    const run = applying.then(() => applySetup(setup, deps));
    applying = run.catch(() => {});
    return run.then(
      (notes) => { if (key === keyOf()) setLesson({ phase: 'ready', message: notes.join(' ') || null }); },
      (err) => { if (key === keyOf()) setLesson({ phase: 'failed', message: err.message }); });
  }
  const keyOf = () => (lessonOf() ? `${lessonOf().id}/${lessonOf().card}` : null);

  /** Open card `card` (0-based) of lesson `id`, set the page up for it, and put the focus on it. */
  async function open(id, card = 0) {
    const data = await lesson(id);
    const k = Math.min(Math.max(0, Math.trunc(card) || 0), data.cards.length - 1);
    const was = lessonOf();
    setLesson({ id, data, card: k, phase: 'setting', message: null, result: null, otherModel: false });
    rememberCard(id, k);
    if (!was || was.id !== id || was.card !== k) cardView.focus();
    await setUp(data.cards[k].setup, `${id}/${k}`);
  }

  function close() {
    if (!lessonOf()) return;
    setLesson(null);
    menu.button.focus();
  }

  /** The answer the card's question has on the page as it is now, or null while the numbers are not there. */
  function answerNow(card) {
    try {
      return evaluate(card.question.answer, reader(store.get(), card.setup));
    } catch {
      return null;
    }
  }

  /**
   * Answered (right, or shown): remember it, and let the page show what the question asked to predict. The card's
   * words keep the numbers they had when it was answered: the reveal may change them (an update step moves b).
   */
  function answered(L, card, result) {
    const read = reader(store.get(), card.setup);
    setLesson({ result: { ...result, text: fill(card.text, read), why: fill(card.question.why, read) } });
    rememberAnswered(L.id, L.card);
    if (card.reveal) {
      setLesson({ phase: 'setting' });
      setUp({ ...card.setup, ...card.reveal, step: card.reveal.step ?? false, lab: card.reveal.lab,
        open: card.reveal.open }, `${L.id}/${L.card}`);
    }
  }

  const cardView = createCardView(root, {
    onCheck(text) {
      const L = lessonOf();
      if (!L || L.phase !== 'ready') return;
      const card = L.data.cards[L.card];
      const guess = parseGuess(text);
      if (Number.isNaN(guess)) { setLesson({ result: { kind: 'nan' } }); return; }
      const answer = answerNow(card);
      if (answer === null || !Number.isFinite(answer)) { setLesson({ result: { kind: 'wait' } }); return; }
      const kind = verdict(guess, answer);
      if (kind === 'right') answered(L, card, { kind, guess, answer });
      else setLesson({ result: { kind, guess } });
    },
    onShow() {
      const L = lessonOf();
      if (!L || L.phase !== 'ready') return;
      const card = L.data.cards[L.card];
      const answer = answerNow(card);
      if (answer === null) { setLesson({ result: { kind: 'wait' } }); return; }
      answered(L, card, { kind: 'shown', answer });
    },
    onPrev() { const L = lessonOf(); if (L && L.card > 0) open(L.id, L.card - 1); },
    onNext() { const L = lessonOf(); if (L && L.card < L.data.cards.length - 1) open(L.id, L.card + 1); },
    onClose: close,
  });
  const menu = createLessonMenu(deps.opener, {
    onOpen: () => { list(); },
    onPick: (id) => { open(id, loadProgress()[id]?.card ?? 0); },
  });

  store.subscribe((s, prev) => {
    cardView.update(s.lesson ?? null, s);
    // back on the pretrained network, its input through it again, a card that waited for it sets the page up
    const L = s.lesson;
    if (L?.otherModel && !otherModel(s) && s.forward && !s.busy.forward && s !== prev) {
      setLesson({ phase: 'setting', message: null, otherModel: false });
      setUp(L.data.cards[L.card].setup, `${L.id}/${L.card}`);
    }
  });
  cardView.update(null, store.get());

  const current = () => (lessonOf() ? { id: lessonOf().id, card: lessonOf().card } : null);
  // The card open is part of the page's view: a shared link or a teacher's push opens it.
  view.register('lesson', { capture: current, apply: (v) => (v ? open(v.id, v.card) : close()) });

  return { open, close, current, list };
}
