// What a learner has done in the lessons, kept in localStorage so that it outlives the tab: per lesson the card they
// were on and the cards whose question they answered. A browser that refuses storage (private mode) only forgets.

const KEY = 'cnn-lessons';

/** @typedef {Record<string, {card: number, answered: number[]}>} Progress */

/** @returns {Progress} */
export function loadProgress() {
  try {
    const p = JSON.parse(localStorage.getItem(KEY) || '{}');
    return p && typeof p === 'object' ? p : {};
  } catch {
    return {};
  }
}

/** @param {Progress} p */
function save(p) {
  try { localStorage.setItem(KEY, JSON.stringify(p)); } catch { /* storage refused: progress is only forgotten */ }
}

/** The learner is on card `card` (0-based) of lesson `id`. */
export function rememberCard(id, card) {
  const p = loadProgress();
  p[id] = { answered: [], ...p[id], card };
  save(p);
}

/** The learner answered card `card`'s question (or was shown it). */
export function rememberAnswered(id, card) {
  const p = loadProgress();
  const answered = new Set(p[id]?.answered ?? []);
  answered.add(card);
  p[id] = { card, ...p[id], answered: [...answered].sort((a, b) => a - b) };
  save(p);
}
