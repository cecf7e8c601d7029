// The teacher's controls over every screen: which student's digit is pinned (and Unpin), and a lesson card to push
// to all (a lesson, a card, "Push card to all", "Clear"). Lessons come from GET /api/lessons ([{id, title, cards}],
// cards a count); a server without lessons says so instead of offering an empty list.

import { h } from '../lib/dom.js';

/**
 * @param {HTMLElement} root
 * @param {{onUnpin: () => void, onLesson: (lesson: {id: string, card: number}|null) => void}} on
 * @returns {{update(s: object, prev?: object): void}}  s: the teacher page's state (teacher.js)
 */
export function createPushControls(root, on) {
  const pinned = h('p', { class: 'push-pinned', 'data-testid': 'pinned-status' });
  const unpin = h('button', { type: 'button', class: 'small', 'data-testid': 'unpin', onclick: on.onUnpin }, 'Unpin');

  const lessonSelect = h('select', { id: 'push-lesson', 'data-testid': 'push-lesson' });
  const cardSelect = h('select', { id: 'push-card', 'data-testid': 'push-card' });
  const push = h('button', { type: 'button', class: 'primary', 'data-testid': 'push-lesson-button',
    onclick: () => on.onLesson({ id: lessonSelect.value, card: Number(cardSelect.value) }) }, 'Push card to all');
  const clear = h('button', { type: 'button', class: 'quiet', 'data-testid': 'push-clear',
    onclick: () => on.onLesson(null) }, 'Clear');
  const current = h('p', { class: 'hint', 'data-testid': 'lesson-status' });
  const none = h('p', { class: 'hint', 'data-testid': 'no-lessons' },
    'This server has no lessons to push yet. Pinned digits work without them.');
  const form = h('div', { class: 'push-form' },
    h('div', { class: 'field-row' }, h('label', { for: 'push-lesson' }, 'Lesson'), lessonSelect),
    h('div', { class: 'field-row' }, h('label', { for: 'push-card' }, 'Card'), cardSelect),
    h('div', { class: 'button-row' }, push, clear));
  root.append(h('div', { class: 'push-pin' }, pinned, unpin), h('h3', { class: 'mini-title' }, 'Lesson card'),
    current, none, form);

  let lessons = [];
  function fillCards() {
    const lesson = lessons.find((l) => l.id === lessonSelect.value);
    const n = lesson ? (Array.isArray(lesson.cards) ? lesson.cards.length : Number(lesson.cards) || 1) : 0;
    cardSelect.replaceChildren(...Array.from({ length: n }, (_, k) => h('option', { value: String(k) },
      `${k + 1} of ${n}`)));
  }
  lessonSelect.addEventListener('change', fillCards);

  return {
    update(s, prev) {
      if (!prev || s.lessons !== prev.lessons) {
        lessons = s.lessons;
        lessonSelect.replaceChildren(...lessons.map((l) => h('option', { value: l.id }, l.title || l.id)));
        fillCards();
        none.hidden = lessons.length > 0;
        form.hidden = lessons.length === 0;
      }
      const who = s.pinned ? s.students[s.pinned]?.name ?? 'a student' : null;
      pinned.textContent = who ? `Every screen shows ${who}’s digit.` : 'No digit pinned: each student sees their own.';
      unpin.hidden = !who;
      const l = s.lesson;
      const title = l ? lessons.find((x) => x.id === l.id)?.title ?? l.id : '';
      current.textContent = l ? `Students see card ${l.card + 1} of “${title}”.` : '';
      clear.disabled = !l;
    },
  };
}
