// Class mode, a student's side: placeholder until class mode lands (issue 15). createClassMode keeps this signature.

/**
 * @param {HTMLElement} root  the class bar under the header (#class-bar)
 * @param {object} deps  {api, store, view, lessons, opener: HTMLElement (a slot in the header for the button)}
 */
export function createClassMode(root, deps) {
  void root; void deps;
  return {};
}
