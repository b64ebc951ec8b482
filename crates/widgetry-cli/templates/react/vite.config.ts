// `npm run dev`: the widget on Vite's dev server with the Widgetry runtime injected; open the
// host page URL it prints (the app running, e.g. `widgetry dev`) and edits hot-reload there.
// `npm run build` (what `widgetry build` runs): dist/index.html, which the bundler inlines
// into one self-contained HTML document.
import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';
import widgetry from 'widgetry/vite';

export default defineConfig({
  plugins: [react(), widgetry()],
});
