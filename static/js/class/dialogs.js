// The two forms that start class mode from the page's header: "Join a class" (a code and a display name) and "Teach
// a class" (an optional PIN and title). Each is a modal <dialog>: the browser keeps the focus inside it and Escape
// closes it. They only collect what a person types and show the server's answer in words; student.js and
// teacher.js do the rest.

import { h } from '../lib/dom.js';
import { normaliseCode } from './wire.js';

/**
 * A modal with a form: a title, fields, an error line and two buttons.
 * @param {{title: string, testid: string, fields: HTMLElement[], submit: string,
 *   onSubmit: (form: HTMLFormElement) => Promise<void>}} o  onSubmit throws an error whose message is shown
 * @returns {{element: HTMLDialogElement, open(): void, close(): void, form: HTMLFormElement,
 *   error(text: string): void}}
 */
function modal(o) {
  const heading = h('h2', { id: `${o.testid}-title` }, o.title);
  const error = h('p', { class: 'class-error', role: 'alert', 'data-testid': `${o.testid}-error` });
  const submit = h('button', { type: 'submit', class: 'primary', 'data-testid': `${o.testid}-submit` }, o.submit);
  const cancel = h('button', { type: 'button', class: 'quiet', onclick: () => dialog.close() }, 'Cancel');
  const form = h('form', { method: 'dialog', novalidate: true }, heading, ...o.fields, error,
    h('div', { class: 'button-row class-dialog-buttons' }, submit, cancel));
  const dialog = h('dialog', { class: 'class-dialog', 'aria-labelledby': heading.id, 'data-testid': o.testid }, form);
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    error.textContent = '';
    submit.disabled = true;
    try {
      await o.onSubmit(form);
    } catch (err) {
      error.textContent = err.message;
    } finally {
      submit.disabled = false;
    }
  });
  document.body.append(dialog);
  return {
    element: dialog, form,
    open() { error.textContent = ''; if (!dialog.open) dialog.showModal(); },
    close() { if (dialog.open) dialog.close(); },
    error(text) { error.textContent = text; },
  };
}

/** A labelled text field. @param {string} id  @param {string} label  @param {Record<string, any>} attrs */
function field(id, label, attrs, hint) {
  const hintEl = hint ? h('p', { class: 'hint', id: `${id}-hint` }, hint) : null;
  return h('div', { class: 'class-field' }, h('label', { for: id }, label),
    h('input', { id, name: id, type: 'text', autocomplete: 'off', 'aria-describedby': hintEl ? hintEl.id : null,
      ...attrs }), hintEl);
}

/**
 * "Join a class": the code (prefilled from a link's ?class=) and the name the class will see.
 * @param {{onJoin: (code: string, name: string) => Promise<void>}} on  throws with the words to show
 * @returns {{open(code?: string, name?: string): void, close(): void}}
 */
export function createJoinDialog(on) {
  const fields = [
    field('class-code', 'Class code', { 'data-testid': 'join-code', maxlength: 40, autocapitalize: 'characters',
      spellcheck: 'false', placeholder: 'K7QX2M', class: 'class-code-input' }),
    field('class-name', 'Your name, as the class will see it', { 'data-testid': 'join-name', maxlength: 40,
      autocomplete: 'nickname', placeholder: 'Ana' },
    'Only this name is shared with your teacher, with the drawings you make while in the class. '
      + 'A first name or a nickname is enough.'),
  ];
  const m = modal({ title: 'Join a class', testid: 'join-dialog', fields, submit: 'Join',
    async onSubmit(form) {
      const code = normaliseCode(form.elements['class-code'].value);
      const name = form.elements['class-name'].value.trim();
      if (!code) { form.elements['class-code'].focus(); throw new Error('Type the code your teacher shows.'); }
      if (!name) { form.elements['class-name'].focus(); throw new Error('Type a name, so your teacher knows whose '
        + 'drawing is whose.'); }
      await on.onJoin(code, name);
      m.close();
    } });
  return {
    open(code = '', name = '') {
      const els = m.form.elements;
      if (code) els['class-code'].value = code;
      if (name && !els['class-name'].value) els['class-name'].value = name;
      m.open();
      (code ? els['class-name'] : els['class-code']).focus();
    },
    close: m.close,
    error: m.error,
  };
}

/**
 * "Teach a class": an optional PIN (to open the teacher's screen on another device) and an optional title; below,
 * the classes this browser already teaches, to go back to.
 * @param {{onStart: (pin: string, title: string) => Promise<void>, running: () => {code: string, title: string}[]}} on
 * @returns {{open(): void, close(): void}}
 */
export function createTeachDialog(on) {
  const running = h('div', { class: 'class-running', 'data-testid': 'teach-running' });
  const fields = [
    h('p', { class: 'hint' }, 'Students join with a short code on their own devices; you see their drawings live and '
      + 'can pin one to every screen or push a lesson card. A class ends when you end it, or after a few hours.'),
    field('class-title', 'Title (optional)', { 'data-testid': 'teach-title', maxlength: 80,
      placeholder: 'Year 11 · backpropagation' }),
    field('class-pin', 'Teacher PIN (optional)', { 'data-testid': 'teach-pin', inputmode: 'numeric', maxlength: 8,
      pattern: '[0-9]{4,8}', class: 'class-pin-input' },
    '4 to 8 digits. With a PIN you can open the teacher screen on another device; without one, only in this browser.'),
    running,
  ];
  const m = modal({ title: 'Teach a class', testid: 'teach-dialog', fields, submit: 'Start the class',
    async onSubmit(form) {
      const pin = form.elements['class-pin'].value.trim();
      if (pin && !/^[0-9]{4,8}$/.test(pin)) {
        form.elements['class-pin'].focus();
        throw new Error('A PIN is 4 to 8 digits, or leave it empty.');
      }
      await on.onStart(pin, form.elements['class-title'].value.trim());
    } });
  return {
    open() {
      const list = on.running();
      running.replaceChildren(...(list.length ? [h('p', { class: 'hint' }, 'Classes you teach from this browser:'),
        h('ul', {}, list.map((c) => h('li', {},
          h('a', { href: c.url }, `${c.code}${c.title ? ` · ${c.title}` : ''}`))))]
        : []));
      m.open();
      m.form.elements['class-title'].focus();
    },
    close: m.close,
  };
}
