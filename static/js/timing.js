// The page's performance marks and measures, read by benchmarks/frontend.py and the browser tests. They follow the
// store: each mark is a change of state, each measure ends when the plots that change caused are painted. No user
// action knows about them.
//
//   stroke-end → forward-painted        measure 'stroke-to-forward': a stroke ends; the first forward that read the
//                                        drawing as it was then (or later) is painted
//   backward-start → backward-painted   measure 'backward-run': a pass is asked for all its layers; it is complete
//                                        and painted
//   step-start → step-painted           measure 'backward-step': one more layer is asked for; it is painted

import { whenPainted } from './lib/plot.js';

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
    if (b.mode === 'run' && b.status === 'streaming' && !(samePass && pb.mode === 'run')) {
      performance.mark('backward-start');
    }
    if (b.mode === 'run' && b.status === 'complete' && pb.status !== 'complete') {
      whenPaintedMeasure('backward-start', 'backward-painted', 'backward-run');
    }
    if (b.mode === 'step' && b.requested > (samePass ? pb.requested : 0)) performance.mark('step-start');
    if (b.mode === 'step' && samePass && b.order.length > pb.order.length) {
      whenPaintedMeasure('step-start', 'step-painted', 'backward-step');
    }
  });
}
