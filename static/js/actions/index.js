// What the buttons, the pad and the keys do, by concern: input and forward (forward.js), backward passes and
// gradient checks (backward.js), update and reset (update.js). Each turns an event into requests through the api
// and their answers into the store; none keeps state of its own.

import { hasParams } from '../state.js';
import { createBackwardActions } from './backward.js';
import { createForwardActions } from './forward.js';
import { createUpdateActions } from './update.js';

/**
 * @param {ReturnType<import('../api.js').createApi>} api  @param {ReturnType<import('../state.js').createStore>} store
 * @param {{pad: object, scrollTo: (index: number) => void, modelChanged?: () => Promise<void>}} ui  modelChanged:
 *   the session's architecture may have changed (a reset from a network trained in the lab): read it again
 */
export function createActions(api, store, ui) {
  const forward = createForwardActions({
    api, store, pad: ui.pad,
    // the weights are fetched at the start; should that have failed, the first forward tries again
    onForward() {
      const s = store.get();
      if (!hasParams(s) && !s.busy.params) update.loadParams();
    },
  });
  const backward = createBackwardActions({ api, store, forward, scrollTo: ui.scrollTo });
  const update = createUpdateActions({ api, store, forward, modelChanged: ui.modelChanged });
  return {
    drawingChanged: forward.drawingChanged, file: forward.file, forward: forward.forward, neuron: forward.neuron,
    inputSteps: forward.inputSteps,
    next: backward.next, prev: backward.prev, run: backward.run, revealTo: backward.revealTo, walkTo: backward.walkTo,
    target: backward.target,
    lossName: backward.lossName, select: backward.select, gradcheck: backward.gradcheck,
    loadParams: update.loadParams, update: update.update, reset: update.reset,
    applyForward: forward.applyForward,
  };
}
