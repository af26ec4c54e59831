import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import './styles.css';
import { App } from './App';
import { RouterProvider } from './router';
import { PrefsProvider } from './prefs';

function mount() {
  const root = document.getElementById('root');
  if (!root) return;
  createRoot(root).render(
    <StrictMode>
      <PrefsProvider>
        <RouterProvider>
          <App />
        </RouterProvider>
      </PrefsProvider>
    </StrictMode>,
  );
}

// The entry is added by script (see vite.config.ts), so the body may still be parsing.
if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', mount);
else mount();
