// Light or dark: the system's prefers-color-scheme until the learner flips the header's switch, whose choice is
// remembered (localStorage). The theme is <html data-theme="light|dark">; app.css and lab.css colour the page from
// it, lib/plot.js the Plotly figures. Applied when this module is first imported, before any view draws.

import { h } from '../lib/dom.js';

const KEY = 'cnn-visualizer-theme';
const system = window.matchMedia('(prefers-color-scheme: dark)');

/** The learner's choice, or null to follow the system. Storage may be refused (privacy modes): then null. */
function stored() {
  try {
    const v = window.localStorage.getItem(KEY);
    return v === 'dark' || v === 'light' ? v : null;
  } catch {
    return null;
  }
}

/** @returns {'light'|'dark'} the theme in force */
export function currentTheme() {
  return document.documentElement.dataset.theme === 'dark' ? 'dark' : 'light';
}

function apply() {
  const theme = stored() ?? (system.matches ? 'dark' : 'light');
  document.documentElement.dataset.theme = theme;
  return theme;
}

apply();

/**
 * The header's switch: a toggle button, pressed in dark mode. onChange is called at once with the theme in force,
 * then at every change.
 * @param {HTMLElement} root  @param {{onChange?: (theme: 'light'|'dark') => void}} [on]  e.g. repaint the plots
 * @returns {{element: HTMLButtonElement}}
 */
export function createThemeSwitch(root, on = {}) {
  const button = h('button', { type: 'button', class: 'small theme-switch', 'data-testid': 'theme-switch',
    title: 'Switch between light and dark colours (your choice is remembered; until then the system\'s is followed)' },
  'Dark mode');
  const show = (theme) => {
    button.setAttribute('aria-pressed', String(theme === 'dark'));
    on.onChange?.(theme);
  };
  button.addEventListener('click', () => {
    try {
      window.localStorage.setItem(KEY, currentTheme() === 'dark' ? 'light' : 'dark');
    } catch {
      document.documentElement.dataset.theme = currentTheme() === 'dark' ? 'light' : 'dark';
      show(currentTheme());
      return;
    }
    show(apply());
  });
  system.addEventListener('change', () => { if (!stored()) show(apply()); });
  root.append(button);
  show(currentTheme());
  return { element: button };
}
