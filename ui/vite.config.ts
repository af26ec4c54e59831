import { defineConfig } from 'vitest/config';
import type { Plugin } from 'vite';
import react from '@vitejs/plugin-react';

// The API target for `npm run dev`; point it at a running `spoor`.
const apiTarget = process.env.SPOOR_API ?? 'http://127.0.0.1:16686';

/**
 * Assets are relative (`./assets/…`) so the app works under any base path.
 * index.html sets a `<base>` from the injected base path; the asset tags are
 * then added by script, so neither the parser nor the browser's preload
 * scanner resolves them against a deep link such as `/trace/<id>` first.
 */
function deferAssetTags(): Plugin {
  return {
    name: 'spoor-defer-asset-tags',
    apply: 'build',
    transformIndexHtml: {
      order: 'post',
      handler(html) {
        const tags: string[] = [];
        let out = html.replace(/<script type="module" crossorigin src="(\.\/assets\/[^"]+)"><\/script>\s*/g, (_m, src: string) => {
          tags.push(`l('script','${src}')`);
          return '';
        });
        out = out.replace(/<link rel="(stylesheet|modulepreload)" crossorigin href="(\.\/assets\/[^"]+)">\s*/g, (_m, rel: string, href: string) => {
          tags.unshift(`l('${rel}','${href}')`);
          return '';
        });
        if (!tags.length) return out;
        const loader =
          `<script>(function(){function l(k,u){var e;if(k==='script'){e=document.createElement('script');e.type='module';e.src=u;}` +
          `else{e=document.createElement('link');e.rel=k;e.href=u;}e.crossOrigin='';document.head.appendChild(e);}${tags.join(';')};})();</script>\n  `;
        return out.replace('</head>', `${loader}</head>`);
      },
    },
  };
}

export default defineConfig({
  base: './',
  plugins: [react(), deferAssetTags()],
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    chunkSizeWarningLimit: 1024,
  },
  server: {
    proxy: {
      '/api': { target: apiTarget, changeOrigin: true },
    },
  },
  test: {
    include: ['src/**/*.test.ts'],
    environment: 'node',
  },
});
