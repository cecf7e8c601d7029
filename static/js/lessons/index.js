// Guided lessons: placeholder until the lesson player lands (issue 15). createLessons keeps this signature.

/**
 * @param {HTMLElement} root  the lesson card's box (#lesson-view, in the side column)
 * @param {object} deps  {api, store, actions, view, lab, opener: HTMLElement (a slot in the header for the button)}
 * @returns {{open(id: string, card: number): Promise<void>, current(): null | {id: string, card: number}}}
 */
export function createLessons(root, deps) {
  void root; void deps;
  return { async open() {}, current: () => null };
}
