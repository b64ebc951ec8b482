// widgetry/vite: the Vite plugin of a Widgetry widget.
// - Build (`widgetry build` runs `npm run build`): one relative-path dist/index.html with one
//   script and one stylesheet, which the bundler inlines (and into which it injects the runtime).
// - Dev server (`npm run dev`): injects the runtime (runtime.js, the file the bundler inlines)
//   at the top of <head>, listens on 127.0.0.1, and prints the host page URL that renders this
//   widget from the dev server, so edits hot-reload inside the host page.
import { readFileSync } from 'node:fs';
import path from 'node:path';

const RUNTIME = new URL('./runtime.js', import.meta.url);

/** The host page URL that renders widget `name` from the dev server at `devUrl`. */
export function hostPageUrl(appUrl, name, devUrl) {
  const page = new URL('/_widgetry/host', appUrl);
  page.searchParams.append('dev', `${name}=${devUrl}`);
  return page.href;
}

export default function widgetry(options = {}) {
  let name = options.widget;
  const appUrl = options.appUrl || process.env.WIDGETRY_APP_URL || 'http://127.0.0.1:8000';
  return {
    name: 'widgetry',
    // Defaults only: what the app's vite.config sets wins.
    config(user) {
      const build = user.build || {};
      const output = (build.rollupOptions && build.rollupOptions.output) || {};
      return {
        base: user.base ?? './',
        // This package is linked from a checkout (`file:`): its imports of React must find the
        // widget's own copy, not look for one beside the checkout.
        resolve: { dedupe: ['react', 'react-dom'] },
        server: { host: (user.server && user.server.host) ?? '127.0.0.1' },
        build: {
          outDir: build.outDir ?? 'dist',
          emptyOutDir: build.emptyOutDir ?? true,
          // One script and one stylesheet: the bundler inlines them.
          cssCodeSplit: build.cssCodeSplit ?? false,
          assetsInlineLimit: build.assetsInlineLimit ?? 256 * 1024,
          rollupOptions: { output: Array.isArray(output) ? output : { inlineDynamicImports: output.inlineDynamicImports ?? true } },
        },
      };
    },
    configResolved(config) {
      name = name || path.basename(config.root);
    },
    configureServer(server) {
      server.httpServer?.once('listening', () => setTimeout(() => {
        const local = server.resolvedUrls && server.resolvedUrls.local[0];
        if (!local) return;
        server.config.logger.info(`  widgetry: widget '${name}' live in the host page (app at ${appUrl}):\n    ${hostPageUrl(appUrl, name, local)}`);
      }, 0));
    },
    transformIndexHtml: {
      order: 'pre',
      handler(_html, ctx) {
        if (!ctx.server) return []; // built widgets get the runtime from the bundler
        // Read per request: an edited runtime shows on the next reload.
        const source = readFileSync(RUNTIME, 'utf8').replace(/<\/(script)/gi, '<\\/$1');
        return [{ tag: 'script', children: source, injectTo: 'head-prepend' }];
      },
    },
  };
}
