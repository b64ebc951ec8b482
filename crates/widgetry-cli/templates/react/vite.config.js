// Builds the widget into dist/index.html + assets; `widgetry build` (and the app's
// build.rs) then inline everything into one self-contained HTML document.
import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';

export default defineConfig({
  plugins: [react()],
  base: './',
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    // One script and one stylesheet: the bundler inlines them.
    cssCodeSplit: false,
    assetsInlineLimit: 256 * 1024,
    rollupOptions: { output: { inlineDynamicImports: true } },
  },
});
