// The teacher's wall: one tile per student, with their drawing as the network read it (28×28, painted at native size
// and scaled up pixelated; black ink on white, the page's one grey convention), their name, the predicted digit,
// online or not, how fresh, and "Pin to every screen" / "Unpin". A tile is redrawn only when its student's entry
// changes, so a class drawing at once costs one small canvas per message.

import { h } from '../lib/dom.js';
import { SIDE, ago, base64ToBytes } from './wire.js';

/**
 * Paint a wire image (784 bytes, 255 = ink) into a 28×28 canvas as ink on paper; null clears it to paper.
 * @param {HTMLCanvasElement} canvas  @param {Uint8Array|null} bytes
 */
export function paintDigit(canvas, bytes) {
  const ctx = canvas.getContext('2d');
  const img = ctx.createImageData(SIDE, SIDE);
  for (let i = 0; i < SIDE * SIDE; i++) {
    const v = 255 - (bytes ? bytes[i] : 0);
    img.data[4 * i] = v; img.data[4 * i + 1] = v; img.data[4 * i + 2] = v; img.data[4 * i + 3] = 255;
  }
  ctx.putImageData(img, 0, 0);
}

/** One tile's elements, built once per student. */
function createTile(id, on) {
  const canvas = h('canvas', { width: SIDE, height: SIDE, class: 'tile-digit pixelated', role: 'img' });
  // the tile and its button are named by the student's name: "Ana", "Pin to every screen" (described as Ana's)
  const nameId = `tile-name-${String(id).replace(/[^A-Za-z0-9_-]/g, '_')}`;
  const name = h('h3', { class: 'tile-name', id: nameId });
  const digit = h('span', { class: 'tile-prediction', 'data-testid': 'tile-prediction' });
  const presence = h('span', { class: 'tile-presence' });
  const updated = h('span', { class: 'tile-updated' });
  const pin = h('button', { type: 'button', class: 'small tile-pin', 'data-testid': 'tile-pin',
    'aria-describedby': nameId,
    onclick: () => on.onPin(el.dataset.pinned === 'true' ? null : id) });
  const el = h('article', { class: 'tile', 'data-testid': 'tile', 'data-student': id, 'aria-labelledby': nameId },
    canvas, h('div', { class: 'tile-text' }, name, h('p', { class: 'tile-reads' }, 'reads ', digit),
      h('p', { class: 'tile-meta' }, presence, ' · ', updated), pin));
  let image, seen = null;
  return {
    el,
    /** @param {object} t  the student's tile  @param {boolean} pinned */
    update(t, pinned) {
      name.textContent = t.name;
      if (t.image !== image) {
        image = t.image;
        paintDigit(canvas, base64ToBytes(t.image));
      }
      const has = t.prediction !== null && t.prediction !== undefined;
      digit.textContent = has ? String(t.prediction) : '–';
      canvas.setAttribute('aria-label', has ? `${t.name}'s drawing, read as ${t.prediction}`
        : `${t.name} has not drawn yet`);
      el.dataset.prediction = has ? String(t.prediction) : '';
      el.dataset.online = String(!!t.online);
      presence.textContent = t.online ? 'online' : 'offline';
      el.dataset.pinned = String(pinned);
      pin.textContent = pinned ? 'Unpin' : 'Pin to every screen';
      pin.disabled = !t.image && !pinned;
      seen = t.image ? t.seenAt : null;
    },
    /** @param {number} now  ms since the epoch, this device's clock */
    tick(now) {
      updated.textContent = seen ? ago(now - seen) : 'no drawing yet';
    },
  };
}

/**
 * @param {HTMLElement} root
 * @param {{onPin: (id: string|null) => void}} on  id null: unpin
 * @returns {{update(s: object, prev: object): void}}  s: the teacher page's state (teacher.js)
 */
export function createWall(root, on) {
  const empty = h('p', { class: 'wall-empty hint', 'data-testid': 'wall-empty' },
    'No student has joined yet. Their drawings appear here as they draw.');
  const grid = h('div', { class: 'wall', 'data-testid': 'wall', role: 'list', 'aria-label': 'Students\' drawings' });
  root.append(empty, grid);
  const tiles = new Map(); // id -> tile
  setInterval(() => { const now = Date.now(); for (const t of tiles.values()) t.tick(now); }, 5000);

  return {
    update(s, prev) {
      if (prev && s.students === prev.students && s.pinned === prev.pinned) return;
      for (const [id, tile] of tiles) {
        if (!s.students[id]) { tile.el.remove(); tiles.delete(id); }
      }
      for (const id of s.order) {
        const t = s.students[id];
        let tile = tiles.get(id);
        if (!tile) {
          // in the order they joined, never moved after: a tile whose button has the focus keeps it
          tile = createTile(id, on);
          tile.el.setAttribute('role', 'listitem');
          tiles.set(id, tile);
          grid.append(tile.el);
        }
        if (!prev || t !== prev.students[id] || s.pinned !== prev.pinned) {
          tile.update(t, s.pinned === id);
          tile.tick(Date.now());
        }
      }
      empty.hidden = s.order.length > 0;
    },
  };
}
