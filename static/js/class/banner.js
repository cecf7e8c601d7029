// The student's banner under the header (#class-bar): which class, under which name, whether the connection holds
// ("reconnecting…" in words, never a spinner alone), the teacher's pinned digit or lesson card, and class mode's
// messages (an unknown code, a class that ended). It draws the store's `classroom` (student.js) and nothing else.

import { h } from '../lib/dom.js';

const STATUS = {
  joining: 'joining…', connecting: 'connecting…', online: 'connected', reconnecting: 'connection lost, reconnecting…',
};

/**
 * @param {HTMLElement} root  #class-bar
 * @param {{onLeave: () => void, onShowPin: () => void, onDismiss: () => void}} on
 * @returns {{update(c: object|null): void}}  c: the store's classroom
 */
export function createClassBanner(root, on) {
  const code = h('b', { 'data-testid': 'class-code' });
  const name = h('b', { 'data-testid': 'class-name' });
  const status = h('span', { class: 'class-status', role: 'status', 'data-testid': 'class-status' });
  const leave = h('button', { type: 'button', class: 'small', 'data-testid': 'class-leave', onclick: on.onLeave,
    title: 'Leave the class: your teacher no longer sees your drawings' }, 'Leave');
  const who = h('p', { class: 'class-who' }, 'Class ', code, ' · you are ', name);
  const main = h('div', { class: 'class-line' }, who, status, leave);

  const pinText = h('span', { 'data-testid': 'class-pin-text' });
  const showPin = h('button', { type: 'button', class: 'small', 'data-testid': 'class-pin-show',
    onclick: on.onShowPin }, 'Show it again');
  const pin = h('p', { class: 'class-notice', 'data-testid': 'class-pin-notice', 'aria-live': 'polite' },
    pinText, showPin);
  const lesson = h('p', { class: 'class-notice', 'data-testid': 'class-lesson-notice', 'aria-live': 'polite' });
  const messageText = h('span', { 'data-testid': 'class-message-text' });
  const dismiss = h('button', { type: 'button', class: 'small quiet', onclick: on.onDismiss,
    'aria-label': 'Dismiss this message' }, 'OK');
  const message = h('p', { class: 'class-notice class-message', role: 'alert', 'data-testid': 'class-message' },
    messageText, dismiss);
  const box = h('div', { class: 'class-banner', role: 'region', 'aria-label': 'Class mode',
    'data-testid': 'class-bar' }, main, pin, lesson, message);
  root.append(box);
  // While the banner sticks to the top of the screen (class.css), what else sticks there starts under it: its height
  // is --class-bar-h then, and 0 while it sits in its place under the header.
  let shown = '';
  const measure = () => {
    const stuck = getComputedStyle(root).position === 'sticky' && root.getBoundingClientRect().top <= 0.5;
    const value = `${stuck ? root.offsetHeight : 0}px`;
    if (value !== shown) document.documentElement.style.setProperty('--class-bar-h', shown = value);
  };
  new ResizeObserver(measure).observe(root);
  window.addEventListener('scroll', measure, { passive: true });

  return {
    update(c) {
      const inClass = !!c && c.status !== 'off';
      main.hidden = !inClass;
      root.dataset.status = inClass ? c.status : 'off';
      if (inClass) {
        code.textContent = c.code;
        name.textContent = c.name;
        status.textContent = STATUS[c.status] ?? '';
      }
      pin.hidden = !inClass || !c.pin;
      if (c?.pin) {
        pinText.textContent = `Your teacher pinned ${c.pin.student === c.id ? 'your' : `${c.pin.name}’s`} digit `
          + 'to every screen.';
        showPin.hidden = c.pinShown;
      }
      lesson.hidden = !inClass || !c.lesson;
      if (c?.lesson) lesson.textContent = `Your teacher opened card ${c.lesson.card + 1} of the lesson `
        + `“${c.lesson.title || c.lesson.id}”.`;
      message.hidden = !c?.message;
      messageText.textContent = c?.message ?? '';
      box.hidden = !inClass && !c?.message;
      root.dataset.notice = String(inClass && !!(c.pin || c.lesson));
    },
  };
}
