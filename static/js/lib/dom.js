// A tiny element builder: h('div', {class: 'x', 'data-testid': 'y', onclick: fn}, child, 'text', ...).

/**
 * @param {string} tag  @param {Record<string, any>} [attrs]  @param {...(Node|string|number|null|false)} children
 * @returns {HTMLElement}
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else if (k === 'text') el.textContent = v;
    else if (k === 'html') el.innerHTML = v;
    else el.setAttribute(k, v === true ? '' : v);
  }
  append(el, children);
  return el;
}

/** @param {HTMLElement} el  @param {any[]} children */
export function append(el, children) {
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

/** Replace all children. @param {HTMLElement} el @param {...any} children */
export function replace(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}

/**
 * A pop-over placed under its button (CSS: position absolute, left 0), moved left as far as it takes to stay inside
 * the window: the header's buttons sit at its right on a wide screen and at its left when the header wraps.
 * @param {HTMLElement} el  shown (not hidden) when this is called
 */
export function keepInWindow(el) {
  el.style.left = '0px';
  const over = el.getBoundingClientRect().right - (document.documentElement.clientWidth - 8);
  if (over > 0) el.style.left = `${-over}px`;
}
