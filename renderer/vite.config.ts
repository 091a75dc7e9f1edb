// Renderer build: Vue app served from file:// by Electron, hence relative URLs.
import vue from '@vitejs/plugin-vue';
import { defineConfig } from 'vite';

export default defineConfig({
  // Vite fills in import.meta.dirname when it loads this file; root must be
  // absolute because relative roots resolve against the cwd, not this file.
  root: import.meta.dirname,
  base: './',
  plugins: [vue()],
  build: {
    outDir: '../dist/renderer',
    emptyOutDir: true,
    // Electron's Chromium has native modulepreload; the polyfill is dead weight.
    modulePreload: { polyfill: false },
    // Never inline assets as data: URLs except images (CSP allows img-src data: only).
    assetsInlineLimit: (file) => /\.(png|jpe?g|gif|svg|webp)$/i.test(file),
  },
});
