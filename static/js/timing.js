// The page's performance marks and measures, read by benchmarks/frontend.py and the browser tests. They follow the
// store: each mark is a change of state, each measure ends when the plots that change caused are painted. No user
// action knows about them.
//
//   stroke-end → forward-painted        measure 'stroke-to-forward': a stroke ends; the first forward that read the
//                                        drawing as it was then (or later) is painted
//   backward-start → backward-painted   measure 'backward-run': the learner asks for every layer at once (Run to the
//                                        end or r: a request, or the rest of the pass in hand); all are revealed
//                                        and painted
//   step-start → step-painted           measure 'backward-step': the learner asks for one more layer (Backward one
//                                        layer, → or n: the first asks the server, the others are in hand); it is
//                                        revealed and painted

import { whenPainted } from './lib/plot.js';
import { reachedCount } from './state.js';

/** @param {string} start  @param {string} end  @param {string} measure */
function whenPaintedMeasure(start, end, measure) {
  whenPainted().then(() => {
    performance.mark(end);
    performance.measure(measure, start, end);
  });
}

/** @param {ReturnType<import('./state.js').createStore>} store  @returns {() => void} unsubscribe */
export function watchTiming(store) {
  return store.subscribe((s, prev) => {
    const end = s.drawing.strokeEnd;
    if (end !== null && end !== prev.drawing.strokeEnd) performance.mark('stroke-end');
    if (end !== null && s.forward && s.forward !== prev.forward && s.forward.version >= end
        && !(prev.forward && prev.forward.version >= end)) {
      whenPaintedMeasure('stroke-end', 'forward-painted', 'stroke-to-forward');
    }

    const b = s.backward, pb = prev.backward;
    if (b === pb || b.status === 'none') return;
    const samePass = b.id === pb.id && pb.status !== 'none';
    const shown = reachedCount(b), shownBefore = samePass ? reachedCount(pb) : 0;
    if (b.mode === 'run' && !(samePass && pb.mode === 'run')) performance.mark('backward-start');
    if (b.mode === 'run' && shown === b.layers.length && shown > shownBefore) {
      whenPaintedMeasure('backward-start', 'backward-painted', 'backward-run');
    }
    if (b.mode === 'step' && b.revealed > (samePass ? pb.revealed : 0)) performance.mark('step-start');
    if (b.mode === 'step' && shown > shownBefore) whenPaintedMeasure('step-start', 'step-painted', 'backward-step');
  });
}
