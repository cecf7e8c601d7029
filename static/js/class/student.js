// Class mode on the learner's page: the header's "Teach a class" and "Join a class", and a student's side of a class.
// A student's every new forward goes to the teacher's wall (the 28×28 input as 784 bytes, the prediction and the
// probabilities, coalesced to at most 4 a second); the teacher's pin shows their chosen digit on the pad and a pushed
// lesson card opens. The membership is remembered (memory.js), so a reload or a dropped connection rejoins as the
// same student and returns to the same place: the pinned digit, the lesson card, else the student's own last
// drawing. Class mode's state is the store's `classroom`; the banner (banner.js) draws it.
//
// What the teacher puts on the pad is not the student's drawing: forwards made while it is applied, and of the pad
// version it left, are not sent, so a pin does not fill the wall with copies of itself.

import { inputBytes, toBase64 } from '../lib/bytes.js';
import { h } from '../lib/dom.js';
import { classApi } from './api.js';
import { createClassBanner } from './banner.js';
import { createJoinDialog, createTeachDialog } from './dialogs.js';
import { membership, remember, rememberTeacher, taught } from './memory.js';
import { PIXELS, backoff, base64ToBytes, coalescer, normaliseCode } from './wire.js';

const SEND_GAP_MS = 250; // ≤ 4 drawings a second
const OFF = Object.freeze({ status: 'off', code: null, name: null, id: null, title: '', pin: null, pinShown: false,
  lesson: null, message: null });

const capital = (text) => text.charAt(0).toUpperCase() + text.slice(1);

/** Words for a failed join, from the server's answer (its detail is plain already; a few cases say more). */
function joinError(err, code) {
  if (err.status === 404) return `There is no class ${code}: check the code, or the class may have ended.`;
  return capital(err.message);
}

/**
 * @param {HTMLElement} root  the class bar under the header (#class-bar)
 * @param {{store: object, view: {apply(v: object): Promise<void>}, lessons: {open(id: string, card: number):
 *   Promise<void>}, opener: HTMLElement}} deps  opener: the header's slot for the two buttons
 * @returns {{join(code: string, name: string): Promise<void>, leave(): void}}
 */
export function createClassMode(root, { store, view, lessons, opener }) {
  const cls = () => store.get().classroom ?? OFF;
  const set = (patch) => store.set({ classroom: { ...cls(), ...patch } });
  let socket = null;
  let held = { applying: 0, version: -1 }; // what the teacher put on the pad (see the header)
  let ownImage = null; // the student's own last drawing (bytes), to go back to when a pin ends
  let retry = null, retries = 0; // a rejoin waiting after a network failure, and how many came before it
  let chain = Promise.resolve(); // what the teacher shows is applied in the order it came, one thing at a time

  /** Queue `fn` (a pin, an unpin, a card, a rejoin's return) after what is being applied. */
  function inTurn(fn) {
    chain = chain.then(fn).catch(() => {});
    return chain;
  }

  const banner = createClassBanner(root, {
    onLeave: () => leave(),
    onShowPin: () => inTurn(() => { const p = cls().pin; return p ? showPin(p) : null; }),
    onDismiss: () => set({ message: null }),
  });

  const joinDialog = createJoinDialog({ onJoin: (code, name) => join(code, name) });
  const teachDialog = createTeachDialog({
    running: () => taught().map((c) => ({ ...c, url: classApi.teachUrl(c.code) })),
    async onStart(pin, title) {
      const body = {};
      if (pin) body.pin = pin;
      if (title) body.title = title;
      let r;
      try {
        r = await classApi.create(body);
      } catch (err) {
        throw new Error(capital(err.message)); // e.g. the server holds as many classes as it may: try later
      }
      rememberTeacher(r.code, r.teacher_token, { title, ttl: r.expires_in });
      location.assign(classApi.teachUrl(r.code));
    },
  });
  const joinButton = h('button', { type: 'button', class: 'small', 'data-testid': 'class-join-open',
    onclick: () => joinDialog.open(cls().code ?? '', membership()?.name ?? '') }, 'Join a class');
  const teachButton = h('button', { type: 'button', class: 'small', 'data-testid': 'class-teach-open',
    onclick: () => teachDialog.open() }, 'Teach a class');
  opener.append(teachButton, joinButton);
  opener.classList.add('class-slot');
  store.subscribe((s, prev) => {
    if (s.classroom === prev.classroom) return;
    banner.update(s.classroom);
    joinButton.hidden = !!s.classroom && s.classroom.status !== 'off'; // in a class: the banner's Leave instead
  });

  // ---- sending the student's drawings -------------------------------------------------------------------------
  // null: the pad was cleared (an empty tile on the wall)
  const sender = coalescer((f) => {
    socket?.send(f ? { type: 'drawing', image: toBase64(inputBytes(f.input)), prediction: f.prediction,
      probabilities: Array.from(f.probabilities ?? []) } : { type: 'drawing', image: null, prediction: null,
      probabilities: null });
  }, SEND_GAP_MS);

  /** Is this forward the student's own (not what a pin or a lesson card put on the pad)? */
  const own = (f) => !!f && f.input?.data?.length === PIXELS && held.applying === 0 && f.version !== held.version;

  /** @param {object} f  the store's forward, the student's own */
  function sendOwn(f) {
    ownImage = inputBytes(f.input);
    sender.push(f);
  }

  store.subscribe((s, prev) => {
    if (s.forward === prev.forward || !socket) return;
    if (!s.forward && held.applying === 0) {
      ownImage = null;
      if (cls().pin && cls().pinShown) set({ pinShown: false }); // the student cleared the pin away
      sender.push(null);
      return;
    }
    if (!own(s.forward)) return;
    if (cls().pin && cls().pinShown) set({ pinShown: false }); // the student drew over the pin: "Show it again"
    sendOwn(s.forward);
  });

  /** Put something the teacher chose on the pad, its forwards not sent as the student's. */
  async function teacherApplies(fn) {
    held.applying += 1;
    try {
      await fn();
    } finally {
      held = { applying: held.applying - 1, version: store.get().drawing.version };
    }
  }

  async function showPin(pin) {
    set({ pin, pinShown: true });
    try {
      await teacherApplies(() => view.apply({ digit: { image: pin.image } }));
    } catch (err) {
      // e.g. the server did not answer the forward in time: the notice offers to try again
      set({ pinShown: false, message: `The pinned digit could not be shown: ${err.message}` });
    }
  }

  async function unpin() {
    const had = cls().pin;
    set({ pin: null, pinShown: false });
    // control returns to the student: their own drawing comes back, and is theirs again (sent as before)
    if (had && ownImage) await view.apply({ digit: { image: ownImage } });
  }

  /**
   * Open the card the teacher pushed (null: the teacher cleared it, the card closes). A pinned digit stays on the pad:
   * the card then speaks of it, which is what a teacher who pinned a digit and pushed a card means.
   * @param {{id: string, card: number}|null} lesson  @param {{repin?: boolean}} [o]  repin false: the caller pins
   */
  async function openLesson(lesson, { repin = true } = {}) {
    if (!lesson?.id) {
      if (cls().lesson) lessons.close?.();
      set({ lesson: null });
      return;
    }
    set({ lesson: { id: lesson.id, card: lesson.card, title: '' } });
    try {
      await teacherApplies(async () => {
        await lessons.open(lesson.id, lesson.card);
        const pin = cls().pin;
        if (repin && pin && cls().pinShown) await view.apply({ digit: { image: pin.image } });
      });
      const title = (await lessons.list?.())?.find?.((l) => l.id === lesson.id)?.title;
      if (title && cls().lesson?.id === lesson.id) set({ lesson: { ...cls().lesson, title } });
    } catch (err) {
      set({ message: `The lesson card your teacher pushed could not open: ${err.message}` });
    }
  }

  /** A pin as it arrives ({image, name, student}) → the classroom's, its image as bytes; null when damaged. */
  function pinOf(p) {
    const image = base64ToBytes(p?.image);
    return image ? { image, name: String(p.name ?? ''), student: p.student ?? null } : null;
  }

  /** Where the class is now (a welcome, or a join's answer): the same pin and lesson as the rest of the class. */
  async function arriveAt(state) {
    await firstForward(); // after the page's arrival digit, or that would replace what the teacher chose
    const lesson = state.lesson?.id ? state.lesson : null;
    const was = cls().lesson;
    const lessonChanged = lesson ? lesson.id !== was?.id || lesson.card !== was?.card : !!was;
    if (lessonChanged) await openLesson(lesson, { repin: false });
    // the pin last: a card's setup may put its own digit on the pad, and a pinned digit stays (see openLesson)
    const pin = state.pin ? pinOf(state.pin) : null;
    const same = (a, b) => a && b && a.student === b.student && a.image.every((v, i) => v === b.image[i]);
    if (pin && (lessonChanged || !(same(pin, cls().pin) && cls().pinShown))) await showPin(pin);
    else if (!pin && cls().pin) await unpin();
  }

  function onMessage(msg) {
    switch (msg.type) {
      case 'welcome': inTurn(() => arriveAt(msg.class ?? msg)); break;
      case 'pin': { const p = pinOf(msg); if (p) inTurn(() => showPin(p)); break; }
      case 'unpin': inTurn(unpin); break;
      case 'lesson': inTurn(() => openLesson(msg.id ? { id: msg.id, card: msg.card } : null)); break;
      case 'ended':
        end(msg.reason === 'expired'
          ? `Class ${cls().code} expired after a while without activity. Your page keeps working on its own.`
          : 'Your teacher ended the class. Your page keeps working on its own.');
        break;
      case 'error':
        if (msg.code === 'slow_down') sender.slow(1000);
        else if (msg.code !== 'class_not_found' && msg.code !== 'invalid_token') {
          set({ message: capital(msg.detail || 'the class server reported a problem.') });
        }
        break;
      default: break;
    }
  }

  // ---- joining, rejoining, leaving ------------------------------------------------------------------------------
  /**
   * Join `code` as `name`, or rejoin with the remembered token (rejoin: a failure ends the membership with a
   * message in the banner, and an unreachable server is asked again); resolves once joined, throws the words to show.
   * @param {string} code  @param {string} name  @param {{token?: string, rejoin?: boolean}} [o]
   */
  async function join(code, name, { token, rejoin = false } = {}) {
    clearTimeout(retry);
    if (socket && cls().code !== code) leave();
    set({ ...OFF, status: 'joining', code, name });
    let r;
    try {
      r = await classApi.join(code, name, token);
    } catch (err) {
      if (rejoin && (err.code === 'network' || err.status === 429 || err.status === 503)) {
        // the server is unreachable (restarting, this device offline) or busy (a whole class reloading at once, Redis
        // away for a moment): keep the membership and try again, when the server says or after a growing wait
        set({ status: 'reconnecting' });
        const wait = err.retryAfter ? err.retryAfter * 1000 : backoff(retries);
        retries += 1;
        retry = setTimeout(() => join(code, name, { token, rejoin }).catch(() => {}), Math.min(wait, 30_000));
        return;
      }
      if (rejoin) remember(null);
      set({ ...OFF, message: !rejoin ? null : err.status === 404
        ? `Class ${code} has ended or expired. Your page keeps working on its own.`
        : `You are no longer in class ${code}: ${err.message}` });
      throw new Error(joinError(err, code));
    }
    retries = 0;
    remember({ code, token: r.token, name: r.student.name });
    forgetLink();
    set({ status: 'connecting', code, name: r.student.name, id: r.student.id, title: r.class?.title ?? '' });
    socket?.close();
    socket = classApi.socket(code, r.token, {
      onMessage,
      onStatus: (status) => { if (cls().status !== 'off') set({ status }); },
      onOpen() {
        const f = store.get().forward;
        if (own(f)) sendOwn(f); // the tile is as fresh as the page after a drop
      },
      onGone: (why) => end(why.code === 4404 ? `Class ${code} has ended or expired. Your page keeps working on its own.`
        : `You are no longer in class ${code}${why.reason ? `: ${why.reason}` : '.'}`),
    });
    // back to the same place: the class's pin and lesson card, else the student's own last drawing
    const last = base64ToBytes(r.last?.image);
    if (last) ownImage = last;
    const state = r.class ?? {};
    if (!rejoin) { if (state.pin || state.lesson?.id) await inTurn(() => arriveAt(state)); return; }
    // the page's arrival digit (main.js's sample) is not the student's: nothing is sent until their place is back
    await inTurn(() => teacherApplies(async () => {
      await firstForward();
      if (state.pin || state.lesson?.id) await arriveAt(state);
      else if (last) await view.apply({ digit: { image: last } });
    }));
  }

  /** The page's first forward (main.js puts a sample digit on the pad at start), or 5 s: what replaces it comes
   * after. Waited for once: a pad cleared later does not delay a pin. */
  let arrived = null;
  function firstForward() {
    arrived ??= store.get().forward ? Promise.resolve() : new Promise((resolve) => {
      const done = () => { stop(); clearTimeout(timer); resolve(); };
      const stop = store.subscribe((s) => { if (s.forward) done(); });
      const timer = setTimeout(done, 5000);
    });
    return arrived;
  }

  function end(message) {
    socket?.close();
    socket = null;
    sender.cancel();
    remember(null);
    set({ ...OFF, message });
  }

  function leave() {
    end(null);
  }

  /** The link's ?class= has done its work once joined (the membership is remembered): a reload after the class
   * ends does not offer to join it again. The rest of the address (a shared view's #…) stays. */
  function forgetLink() {
    const url = new URL(location.href);
    if (!url.searchParams.has('class')) return;
    url.searchParams.delete('class');
    history.replaceState(history.state, '', url);
  }

  // ---- on arrival: a remembered membership rejoins; a link's ?class= opens the form with its code --------------
  const linked = normaliseCode(new URLSearchParams(location.search).get('class') ?? '');
  const remembered = membership();
  if (remembered && (!linked || linked === remembered.code)) {
    // A member comes back to the class's place (its pin, its lesson card, else their last drawing), not to the view
    // the address bar kept: that view is set aside before the page reads it (main.js opens it after this), or the two
    // would race to set the pad.
    if (location.hash) history.replaceState(history.state, '', `${location.pathname}${location.search}`);
    join(remembered.code, remembered.name, { token: remembered.token, rejoin: true }).catch(() => {});
  } else if (linked) {
    joinDialog.open(linked, remembered?.name ?? '');
  }
  banner.update(cls());
  return { join, leave };
}
