// The teacher's screen (templates/teacher.html, /class/CODE/teach): the class code big with its join link, the wall
// of students' drawings (wall.js), the counts per predicted digit (counts.js), the pin and the lesson card pushed to
// every screen (lessonpush.js), and "End class". Its state is one store (../state.js's createStore), as the page's
// is; the class's socket feeds it and the views draw it.
//
// The teacher token stays in this browser (memory.js, per code); without one (another device, or cleared storage)
// the screen asks for the class's PIN, whose answer is a token.

import { ApiError } from '../api.js';
import { h } from '../lib/dom.js';
import { repaintAll } from '../lib/plot.js';
import { createStore } from '../state.js';
import { createThemeSwitch } from '../views/theme.js';
import { classApi } from './api.js';
import { createCounts } from './counts.js';
import { createPushControls } from './lessonpush.js';
import { rememberTeacher, teacherToken } from './memory.js';
import { createWall } from './wall.js';

const page = JSON.parse(document.getElementById('page-data').textContent);
const code = String(page.code);
const $ = (id) => document.getElementById(id);

const STATUS = { pin: 'waiting for the PIN', connecting: 'connecting…', online: 'live',
  reconnecting: 'connection lost, reconnecting…', ended: 'ended' };

/** The teacher screen's state. */
export const store = createStore({
  status: 'connecting', title: page.title ?? '', students: {}, order: [], pinned: null, lesson: null, lessons: [],
  message: null, announce: '',
});
const set = (patch) => store.set(patch);

/**
 * A tile as it arrives, with when its drawing last changed on this device's clock ("3 s ago" needs no clock skew):
 * now for a change seen live, the server's `updated` (unix seconds) for a tile first seen in a roster.
 */
function tileOf(t, prev, live) {
  const wasOnline = !!(t.online || prev?.wasOnline); // a join comes offline, then online: "back" needs a first time
  if (prev && prev.image === t.image && prev.prediction === t.prediction) {
    return { ...t, seenAt: prev.seenAt, wasOnline };
  }
  return { ...t, wasOnline, seenAt: live || !t.updated ? Date.now() : Math.min(Date.now(), t.updated * 1000) };
}

/** What every screen shows, from a roster's `class` or a pin/lesson message. */
const pinnedOf = (pin) => (pin && typeof pin === 'object' ? pin.student ?? null : null);

// ---- the views -------------------------------------------------------------------------------------------------
const root = $('teach');
const joinUrl = classApi.joinUrl(code);
const copy = h('button', { type: 'button', class: 'small', 'data-testid': 'copy-join-link' }, 'Copy link');
const copied = h('span', { class: 'hint', 'aria-live': 'polite', 'data-testid': 'copy-status' });
const status = h('span', { class: 'teach-status', role: 'status', 'data-testid': 'teach-status' });
const count = h('span', { class: 'teach-count', 'data-testid': 'teach-count' });
const endButton = h('button', { type: 'button', class: 'teach-end', 'data-testid': 'end-class' }, 'End class');
const titleEl = h('p', { class: 'teach-title', 'data-testid': 'teach-title' });
const head = h('section', { class: 'card teach-head', 'aria-label': 'Class code and join link' },
  h('div', { class: 'teach-code-box' }, h('p', { class: 'teach-code-label', id: 'code-label' }, 'Class code'),
    h('p', { class: 'teach-code', 'data-testid': 'teach-code', 'aria-labelledby': 'code-label' }, code), titleEl),
  h('div', { class: 'teach-join' },
    h('p', {}, 'Students open ', h('a', { href: joinUrl, 'data-testid': 'join-link', target: '_blank',
      rel: 'noopener' }, joinUrl.replace(/^https?:\/\//, '')), ' or press “Join a class” on the visualizer and type ',
    h('b', {}, 'the code'), '.'),
    h('p', { class: 'teach-join-tools' }, copy, copied)),
  h('div', { class: 'teach-state' }, h('p', {}, count, ' · ', status), endButton));

const message = h('p', { class: 'class-notice class-message', role: 'alert', 'data-testid': 'teach-message' });
const pinInput = h('input', { id: 'teach-pin', type: 'password', inputmode: 'numeric', autocomplete: 'off',
  maxlength: 8, 'data-testid': 'teach-pin-input', class: 'class-pin-input' });
const pinError = h('p', { class: 'class-error', role: 'alert', 'data-testid': 'teach-pin-error' });
const pinForm = h('form', { class: 'card teach-pin', 'data-testid': 'teach-pin-form', 'aria-labelledby': 'pin-h' },
  h('h2', { id: 'pin-h' }, 'Open this class’s teacher screen'),
  h('p', {}, 'This browser does not hold the teacher’s key for class ', h('b', {}, code),
    '. Type the teacher PIN chosen when the class was started.'),
  h('div', { class: 'field-row' }, h('label', { for: 'teach-pin' }, 'Teacher PIN'), pinInput,
    h('button', { type: 'submit', class: 'primary', 'data-testid': 'teach-pin-submit' }, 'Open')),
  pinError);

const countsBox = h('section', { class: 'card teach-counts', 'aria-labelledby': 'counts-h' },
  h('h2', { id: 'counts-h' }, 'What the network reads'));
const pushBox = h('section', { class: 'card teach-push', 'aria-labelledby': 'push-h' },
  h('h2', { id: 'push-h' }, 'On every screen'));
const wallBox = h('section', { class: 'card teach-wall', 'aria-labelledby': 'wall-h' },
  h('h2', { id: 'wall-h' }, 'Students’ drawings'));
const live = h('p', { class: 'visually-hidden', 'aria-live': 'polite', 'data-testid': 'teach-announce' });
const grid = h('div', { class: 'teach-grid' }, wallBox, h('div', { class: 'teach-side' }, countsBox, pushBox));
root.replaceChildren(head, message, pinForm, grid, live);

let socket = null;
const send = (msg) => socket?.send(msg);
const wall = createWall(wallBox, {
  onPin(id) {
    if (id === null) { send({ type: 'unpin' }); set({ pinned: null }); return; }
    send({ type: 'pin', student: id });
    set({ pinned: id });
  },
});
const counts = createCounts(countsBox);
const push = createPushControls(pushBox, {
  onUnpin() { send({ type: 'unpin' }); set({ pinned: null }); },
  onLesson(lesson) {
    send(lesson ? { type: 'lesson', id: lesson.id, card: lesson.card } : { type: 'lesson', id: null });
    set({ lesson });
  },
});

for (const v of [wall, counts, push]) v.update(store.get());
store.subscribe((s, prev) => {
  status.textContent = STATUS[s.status] ?? '';
  root.dataset.status = s.status;
  const online = s.order.filter((id) => s.students[id].online).length;
  const most = page.limits?.students;
  count.textContent = `${s.order.length} student${s.order.length === 1 ? '' : 's'}${most ? ` of ${most}` : ''}, `
    + `${online} online`;
  titleEl.textContent = s.title;
  titleEl.hidden = !s.title;
  message.textContent = s.message ?? '';
  message.hidden = !s.message;
  pinForm.hidden = s.status !== 'pin';
  grid.hidden = s.status === 'pin' || s.status === 'ended';
  endButton.disabled = s.status === 'ended' || s.status === 'pin';
  if (s.announce !== prev.announce) live.textContent = s.announce;
  wall.update(s, prev);
  counts.update(s, prev);
  push.update(s, prev);
});

// ---- the class's socket ----------------------------------------------------------------------------------------
function onMessage(msg) {
  const s = store.get();
  if (msg.type === 'roster') {
    const students = {};
    for (const t of msg.students ?? []) students[t.id] = tileOf(t, s.students[t.id], false);
    const patch = { students, order: (msg.students ?? []).map((t) => t.id) };
    // after a reconnection the server's word on what every screen shows beats this screen's memory
    const c = msg.class;
    if (c) {
      patch.pinned = pinnedOf(c.pin);
      patch.lesson = c.lesson?.id ? { id: c.lesson.id, card: c.lesson.card } : null;
      if (c.title) patch.title = c.title;
    }
    set(patch);
  } else if (msg.type === 'tile' && msg.student?.id) {
    const t = msg.student, was = s.students[t.id];
    const students = { ...s.students, [t.id]: tileOf(t, was, true) };
    const order = was ? s.order : [...s.order, t.id];
    const announce = !was ? `${t.name} joined.` : was.online && !t.online ? `${t.name} went offline.`
      : !was.online && t.online && was.wasOnline ? `${t.name} is back.` : s.announce;
    set({ students, order, announce });
  } else if (msg.type === 'left' && s.students[msg.id]) {
    const { [msg.id]: gone, ...students } = s.students;
    set({ students, order: s.order.filter((id) => id !== msg.id), announce: `${gone.name} left.`,
      pinned: s.pinned === msg.id ? null : s.pinned });
  } else if (msg.type === 'pin') {
    set({ pinned: msg.student ?? null }); // another teacher screen's pin, or this one's echoed
  } else if (msg.type === 'unpin') {
    set({ pinned: null });
  } else if (msg.type === 'lesson') {
    set({ lesson: msg.id ? { id: msg.id, card: msg.card } : null });
  } else if (msg.type === 'ended') {
    ended(msg.reason === 'expired' ? 'This class expired after a while without activity.'
      : 'This class has ended. Students’ pages keep working on their own.');
  } else if (msg.type === 'error' && msg.code !== 'class_not_found' && msg.code !== 'invalid_token') {
    set({ message: msg.detail || 'The class server reported a problem.' }); // the two refusals: onGone says them
  }
}

function ended(text) {
  socket?.close();
  socket = null;
  rememberTeacher(code, null);
  set({ status: 'ended', message: text });
}

function connect(token) {
  socket = classApi.socket(code, token, {
    onMessage,
    onOpen: () => rememberTeacher(code, token), // kept for as long again: a class lives while it is used
    onStatus: (st) => set({ status: st, message: st === 'online' ? null : store.get().message }),
    onGone(why) {
      socket = null;
      // a key this class does not take asks for the PIN; a class that is gone says so
      if (why.code === 4403) {
        rememberTeacher(code, null);
        set({ status: 'pin', message: null });
      } else ended('This class has ended or expired.');
    },
  });
}

pinForm.addEventListener('submit', async (ev) => {
  ev.preventDefault();
  pinError.textContent = '';
  const pin = pinInput.value.trim();
  if (!pin) { pinError.textContent = 'Type the PIN.'; pinInput.focus(); return; }
  try {
    const r = await classApi.teacher(code, pin);
    rememberTeacher(code, r.teacher_token);
    pinInput.value = '';
    set({ status: 'connecting', message: null });
    connect(r.teacher_token);
  } catch (err) {
    const words = err instanceof ApiError ? err.message : String(err);
    pinError.textContent = words.charAt(0).toUpperCase() + words.slice(1);
    if (err.status === 404) ended(pinError.textContent);
  }
});

copy.addEventListener('click', async () => {
  try {
    await navigator.clipboard.writeText(joinUrl);
    copied.textContent = 'Copied.';
  } catch {
    // no clipboard (an http page on another host, a refused permission): select the link for Ctrl+C
    const range = document.createRange();
    range.selectNodeContents(head.querySelector('[data-testid=join-link]'));
    getSelection().removeAllRanges();
    getSelection().addRange(range);
    copied.textContent = 'Press Ctrl+C (⌘C) to copy the selected link.';
  }
});

endButton.addEventListener('click', () => {
  if (!window.confirm(`End class ${code}? Students leave the class; their pages keep working on their own.`)) return;
  if (!send({ type: 'end' })) { set({ message: 'Not connected right now: end the class once the screen says live.' });
    return; }
  set({ announce: 'Ending the class…' });
});

createThemeSwitch($('theme-switch'), { onChange: repaintAll });
classApi.lessons().then((lessons) => set({ lessons }));
const token = teacherToken(code);
if (token) connect(token);
else set({ status: 'pin' });
