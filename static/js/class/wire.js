// Class mode's small pure pieces: a digit as it crosses the wire (784 uint8, 28×28, white ink on black, in base64),
// a class code as a person types it, the waits between reconnections, and a sender that coalesces drawings to a few
// a second. No DOM, no URLs: the student's and the teacher's pages share them. (The input as bytes, and bytes as
// base64, are lib/bytes.js's.)

export const SIDE = 28;
export const PIXELS = SIDE * SIDE;

/**
 * A wire image back to bytes; null when it is absent or not 784 bytes (a damaged message is dropped, not drawn).
 * @param {string|null|undefined} b64  @returns {Uint8Array|null}
 */
export function base64ToBytes(b64) {
  if (typeof b64 !== 'string') return null;
  let bin;
  try { bin = atob(b64); } catch { return null; }
  if (bin.length !== PIXELS) return null;
  const out = new Uint8Array(PIXELS);
  for (let i = 0; i < PIXELS; i++) out[i] = bin.charCodeAt(i);
  return out;
}

/**
 * A class code as typed ("k7qx 2m", pasted with the link's "?class=") → "K7QX2M": letters and digits, upper case.
 * @param {string} text  @returns {string}
 */
export function normaliseCode(text) {
  const s = String(text || '').trim();
  const m = s.match(/[?&]class=([A-Za-z0-9]+)/);
  return (m ? m[1] : s).replace(/[^A-Za-z0-9]/g, '').toUpperCase();
}

/**
 * How long to wait before reconnection number `attempt` (0, 1, …): 0.5 s doubling to 10 s, with a random part so
 * that a class whose server restarted does not come back in one burst. @param {number} attempt  @returns {number} ms
 */
export function backoff(attempt, random = Math.random) {
  const base = Math.min(10_000, 500 * 2 ** attempt);
  return Math.round(base * (0.75 + 0.5 * random()));
}

/**
 * Sends the latest of what it is given, at most once per `gap` ms: a call while waiting replaces the waiting value,
 * so a student drawing fast sends their drawing as it is now, a few times a second, never a queue.
 * @template T  @param {(value: T) => void} send  @param {number} gap ms
 * @returns {{push(value: T): void, cancel(): void, slow(ms: number): void}}  slow: a wider gap for a while (the
 *   server said slow_down)
 */
export function coalescer(send, gap) {
  let last = -Infinity, timer = null, waiting = null, extra = 0, extraUntil = 0;
  const now = () => performance.now();
  const gapNow = () => gap + (now() < extraUntil ? extra : 0);
  function fire() {
    timer = null;
    const v = waiting;
    waiting = null;
    last = now();
    send(v.value);
  }
  return {
    push(value) {
      waiting = { value };
      if (timer !== null) return;
      const wait = Math.max(0, last + gapNow() - now());
      timer = setTimeout(fire, wait);
    },
    cancel() { clearTimeout(timer); timer = null; waiting = null; },
    slow(ms) { extra = ms; extraUntil = now() + 10_000; },
  };
}

/** "3 s ago", "2 min ago": how fresh a tile is. @param {number} ms  @returns {string} */
export function ago(ms) {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 5) return 'just now';
  if (s < 60) return `${s} s ago`;
  const m = Math.round(s / 60);
  return m < 60 ? `${m} min ago` : `${Math.round(m / 60)} h ago`;
}
