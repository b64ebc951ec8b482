// widgetry: the Widgetry widget runtime for bundled widgets (Vite, TypeScript, React).
//
// The runtime itself (runtime.js, the same file `widgetry-bundle` inlines into every widget's
// <head>) defines `window.widgetry` before any module script runs. This entry point does not
// carry a second copy into the bundle: it hands out the one on the page, and says plainly when
// there is none (a page opened outside the bundler and outside `widgetry/vite`'s dev server).

/** The runtime on this page, or null when it is missing. */
export function findWidgetry() {
  return typeof window !== 'undefined' && window.widgetry && window.widgetry.version ? window.widgetry : null;
}

/** The runtime on this page; throws an error that says how to get it when it is missing. */
export function getWidgetry() {
  const w = findWidgetry();
  if (!w) {
    throw new Error(
      'widgetry: the runtime is missing from this page. Widgets built by `widgetry build` have it '
      + 'inlined; under `vite` (npm run dev) add the plugin from "widgetry/vite" to vite.config.',
    );
  }
  return w;
}
