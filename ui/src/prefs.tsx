// User preferences kept in localStorage: theme and time zone.

import { createContext, useCallback, useContext, useEffect, useMemo, useState } from 'react';
import type { ReactNode } from 'react';
import type { TimeZoneMode } from './lib/format';

export type Theme = 'light' | 'dark';

interface Prefs {
  theme: Theme;
  toggleTheme: () => void;
  tz: TimeZoneMode;
  toggleTz: () => void;
}

const PrefsContext = createContext<Prefs | null>(null);

function load(key: string): string | null {
  try {
    return localStorage.getItem(key);
  } catch {
    return null;
  }
}

function save(key: string, v: string) {
  try {
    localStorage.setItem(key, v);
  } catch {
    // storage may be disabled; the preference then lasts for the page only
  }
}

function initialTheme(): Theme {
  const attr = document.documentElement.getAttribute('data-theme');
  if (attr === 'dark' || attr === 'light') return attr;
  const saved = load('spoor.theme');
  return saved === 'dark' ? 'dark' : 'light';
}

export function PrefsProvider({ children }: { children: ReactNode }) {
  const [theme, setTheme] = useState<Theme>(initialTheme);
  const [tz, setTz] = useState<TimeZoneMode>(() => (load('spoor.tz') === 'utc' ? 'utc' : 'local'));
  useEffect(() => {
    document.documentElement.setAttribute('data-theme', theme);
  }, [theme]);
  const toggleTheme = useCallback(() => {
    setTheme((t) => {
      const n = t === 'dark' ? 'light' : 'dark';
      save('spoor.theme', n);
      return n;
    });
  }, []);
  const toggleTz = useCallback(() => {
    setTz((t) => {
      const n = t === 'utc' ? 'local' : 'utc';
      save('spoor.tz', n);
      return n;
    });
  }, []);
  const value = useMemo(() => ({ theme, toggleTheme, tz, toggleTz }), [theme, toggleTheme, tz, toggleTz]);
  return <PrefsContext.Provider value={value}>{children}</PrefsContext.Provider>;
}

export function usePrefs(): Prefs {
  const v = useContext(PrefsContext);
  if (!v) throw new Error('usePrefs outside PrefsProvider');
  return v;
}
