// Vite builds the client into dist/, which munityd serves (src/munity-static.c).
// munityd sends a strict Content-Security-Policy (script-src 'self',
// style-src 'self'), so the build must not put any script or style inline.
import { defineConfig } from 'vite';

const daemon = process.env.MUNITY_DEV_SERVER ?? 'http://127.0.0.1:8080';

export default defineConfig({
  // No @vitejs/plugin-react: esbuild compiles JSX with React's automatic runtime.
  esbuild: { jsx: 'automatic' },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    // The polyfill would be an inline script; every browser we support has
    // <link rel=modulepreload>.
    modulePreload: { polyfill: false },
    // Keep every asset a file of its own under /assets/ (hashed, immutable).
    assetsInlineLimit: 0,
    cssCodeSplit: false,
    rollupOptions: {
      onwarn(warning, warn) {
        // react-router marks its modules "use client", which means nothing here.
        if (warning.code === 'MODULE_LEVEL_DIRECTIVE') return;
        warn(warning);
      },
    },
  },
  // `npm run dev` talks to a munityd started with ./run.sh.
  server: {
    proxy: {
      '/api': daemon,
      '/avatars': daemon,
      '/ws': { target: daemon.replace(/^http/, 'ws'), ws: true },
    },
  },
  test: {
    environment: 'node',
    include: ['src/**/*.test.{js,jsx}'],
  },
});
