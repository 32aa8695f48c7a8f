// Vite builds the client into dist/, which munityd serves (src/munity-static.c).
// munityd sends a strict Content-Security-Policy (script-src 'self',
// style-src 'self'), so the build must not put any script or style inline.
import { defineConfig } from 'vite';

const daemon = process.env.MUNITY_DEV_SERVER ?? 'http://127.0.0.1:8080';

// The sources import the router from 'react-router', as React Router 7 has
// it all in one package. React Router 7 wants Node >= 20 and Debian 12 ships
// Node 18, so we build with version 6 (package.json: react-router-dom),
// which has the same components and hooks but keeps Link, NavLink and
// BrowserRouter in react-router-dom. Our own imports of 'react-router' get
// this module: react-router-dom, its routers with version 7's behaviour
// (the "future" flags) switched on. Imports inside node_modules
// (react-router-dom's own) keep the real package. Back to React Router 7,
// once Node >= 20 is the oldest we build with: drop this plugin.
const ROUTER = '\0munity:react-router';
const ROUTER_SOURCE = `
import { createElement } from 'react';
import { BrowserRouter as Browser, MemoryRouter as Memory } from 'react-router-dom';
export * from 'react-router-dom';
const future = { v7_startTransition: true, v7_relativeSplatPath: true };
export const BrowserRouter = (props) => createElement(Browser, { future, ...props });
export const MemoryRouter = (props) => createElement(Memory, { future, ...props });
`;
function reactRouterFromDom() {
  return {
    name: 'munity:react-router-from-dom',
    enforce: 'pre',
    resolveId(source, importer) {
      if (source !== 'react-router' || !importer || importer.includes('/node_modules/')) return null;
      return ROUTER;
    },
    load(id) {
      return id === ROUTER ? ROUTER_SOURCE : null;
    },
  };
}

export default defineConfig({
  plugins: [reactRouterFromDom()],
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
  // The dev server finds react-router-dom behind the plugin only on the
  // first page load (and reloads); name it so it is prepared up front.
  optimizeDeps: { include: ['react-router-dom'] },
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
