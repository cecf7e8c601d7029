// What this browser remembers of class mode (localStorage, so it outlives a reload and a closed tab): a student's
// membership (code, token, name), so that a reload or a dropped connection rejoins as the same student; and the
// teacher tokens of the classes started or reopened here, per code. Nothing else: no name of anybody else, no
// drawing. Storage refused (a privacy mode) leaves class mode working for as long as the page is open.

const MEMBER = 'cnn-visualizer-class';
const TEACHER = 'cnn-visualizer-teach';

function read(key) {
  try {
    return JSON.parse(window.localStorage.getItem(key) || 'null');
  } catch {
    return null;
  }
}

function write(key, value) {
  try {
    if (value === null) window.localStorage.removeItem(key);
    else window.localStorage.setItem(key, JSON.stringify(value));
  } catch { /* refused: remembered for this page only */ }
}

/** @returns {null | {code: string, token: string, name: string}} */
export function membership() {
  const m = read(MEMBER);
  return m && typeof m.code === 'string' && typeof m.token === 'string' ? m : null;
}

/** @param {null | {code: string, token: string, name: string}} m */
export function remember(m) {
  write(MEMBER, m);
}

/** @returns {Record<string, {token: string, title: string, until: number}>} code → its teacher token */
function teaching() {
  const all = read(TEACHER);
  if (!all || typeof all !== 'object') return {};
  const now = Date.now();
  return Object.fromEntries(Object.entries(all).filter(([, t]) => t && typeof t.token === 'string' && t.until > now));
}

/** @param {string} code  @returns {string|null} */
export function teacherToken(code) {
  return teaching()[code]?.token ?? null;
}

/** @param {string} code  @param {string|null} token  (null forgets it)  @param {{title?: string, ttl?: number}} o */
export function rememberTeacher(code, token, { title = '', ttl = 6 * 3600 } = {}) {
  const all = teaching();
  if (token === null) delete all[code];
  else all[code] = { token, title: title || all[code]?.title || '', until: Date.now() + ttl * 1000 };
  write(TEACHER, all);
}

/** The classes this browser teaches and that have not expired. @returns {{code: string, title: string}[]} */
export function taught() {
  return Object.entries(teaching()).map(([code, t]) => ({ code, title: t.title }));
}
