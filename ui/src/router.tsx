// A small router: the URL (under the base path) is the source of truth for
// every view. `navigate` pushes history entries; components re-render on
// popstate and on navigation.

import { createContext, useCallback, useContext, useEffect, useMemo, useState } from 'react';
import type { AnchorHTMLAttributes, MouseEvent, ReactNode } from 'react';
import { config } from './config';

export interface Location {
  /** Path relative to the base path, always starting with `/`. */
  path: string;
  search: URLSearchParams;
  searchText: string;
  /** Bumped by `navigate(…, { force: true })` to re-run a view for the same URL. */
  nonce: number;
}

interface RouterValue {
  location: Location;
  navigate: (to: string, opts?: { replace?: boolean; force?: boolean }) => void;
}

const RouterContext = createContext<RouterValue | null>(null);

function current(nonce = 0): Location {
  let path = window.location.pathname;
  const base = config.basePath;
  if (base && (path === base || path.startsWith(base + '/'))) path = path.slice(base.length);
  if (!path.startsWith('/')) path = '/' + path;
  const searchText = window.location.search;
  return { path, search: new URLSearchParams(searchText), searchText, nonce };
}

export function href(to: string): string {
  return `${config.basePath}${to.startsWith('/') ? to : '/' + to}`;
}

export function RouterProvider({ children }: { children: ReactNode }) {
  const [location, setLocation] = useState<Location>(() => current());
  useEffect(() => {
    const onPop = () => setLocation((old) => current(old.nonce));
    window.addEventListener('popstate', onPop);
    return () => window.removeEventListener('popstate', onPop);
  }, []);
  const navigate = useCallback((to: string, opts?: { replace?: boolean; force?: boolean }) => {
    const url = href(to);
    const same = url === window.location.pathname + window.location.search;
    if (same && !opts?.force) return;
    if (!same) {
      if (opts?.replace) window.history.replaceState(null, '', url);
      else window.history.pushState(null, '', url);
    }
    setLocation((old) => current(opts?.force ? old.nonce + 1 : old.nonce));
  }, []);
  const value = useMemo(() => ({ location, navigate }), [location, navigate]);
  return <RouterContext.Provider value={value}>{children}</RouterContext.Provider>;
}

export function useRouter(): RouterValue {
  const v = useContext(RouterContext);
  if (!v) throw new Error('useRouter outside RouterProvider');
  return v;
}

type LinkProps = Omit<AnchorHTMLAttributes<HTMLAnchorElement>, 'href'> & { to: string; replace?: boolean };

export function Link({ to, replace, onClick, ...rest }: LinkProps) {
  const { navigate } = useRouter();
  const handle = (e: MouseEvent<HTMLAnchorElement>) => {
    onClick?.(e);
    if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey || rest.target) return;
    e.preventDefault();
    navigate(to, { replace });
  };
  return <a href={href(to)} onClick={handle} {...rest} />;
}
