import { useEffect, useState } from 'react';
import type { ReactNode } from 'react';
import { useKeyboard } from './keyboard';
import { config } from './config';
import { Link, useRouter } from './router';
import { usePrefs } from './prefs';
import { SearchPage } from './pages/SearchPage';
import { TracePage } from './pages/TracePage';
import { ComparePage, ComparePicker } from './pages/ComparePage';
import { DependenciesPage } from './pages/DependenciesPage';
import { MonitorPage } from './pages/MonitorPage';
import { currentTenant, logout, switchTenant } from './session';

function NavLink({ to, id, label, active }: { to: string; id: string; label: string; active: boolean }) {
  return (
    <Link to={to} data-testid={id} className={active ? 'nav-link active' : 'nav-link'} aria-current={active ? 'page' : undefined}>
      {label}
    </Link>
  );
}

export function App() {
  const { location, navigate } = useRouter();
  const { theme, toggleTheme, tz, toggleTz } = usePrefs();
  const path = location.path;

  useEffect(() => {
    if (path === '/' || path === '' || path === '/index.html') navigate('/search', { replace: true });
  }, [path, navigate]);

  const [help, setHelp] = useState(false);
  const [loggedOut, setLoggedOut] = useState(false);
  useKeyboard({
    '?': () => setHelp((h) => !h),
  });

  // The server answers only these paths with the app (a JSON 404 otherwise):
  // keep crates/spoor-server/src/ui.rs `is_app_page` in step.
  let page: ReactNode;
  const traceMatch = /^\/trace\/([^/]+)\/?$/.exec(path);
  if (path === '/search' || path === '/' || path === '' || path === '/index.html') {
    page = <SearchPage />;
  } else if (traceMatch) {
    const id = decodeURIComponent(traceMatch[1]);
    const cmp = /^(.+)\.\.\.(.+)$/.exec(id);
    page = cmp ? <ComparePage key={id} a={cmp[1]} b={cmp[2]} /> : <TracePage key={id} traceID={id} />;
  } else if (path === '/compare') {
    page = <ComparePicker />;
  } else if (path === '/dependencies') {
    page = <DependenciesPage />;
  } else if (path === '/monitor') {
    page = <MonitorPage />;
  } else {
    page = (
      <div className="page">
        <div className="empty-state">
          <h2>Page not found</h2>
          <p>
            Nothing lives at <code>{path}</code>. <Link to="/search">Search traces</Link>.
          </p>
        </div>
      </div>
    );
  }

  if (loggedOut) return <LoggedOut />;

  return (
    <div className="app">
      <header className="topnav">
        <Link to="/search" className="brand" aria-label="Spoor home">
          <span className="brand-mark">◆</span> Spoor
        </Link>
        <nav>
          <NavLink to="/search" id="nav-search" label="Search" active={path === '/search'} />
          <NavLink to="/compare" id="nav-compare" label="Compare" active={path === '/compare' || (path.startsWith('/trace/') && path.includes('...'))} />
          <NavLink to="/dependencies" id="nav-dependencies" label="System architecture" active={path === '/dependencies'} />
          <NavLink to="/monitor" id="nav-monitor" label="Monitor" active={path === '/monitor'} />
          {config.menu.map((m) => (
            <a key={m.url + m.label} className="nav-link" href={m.url} target="_blank" rel="noreferrer">
              {m.label}
            </a>
          ))}
        </nav>
        <div className="nav-right">
          <TenantSwitcher />
          <TraceIdJump />
          <button type="button" className="btn-ghost" data-testid="tz-toggle" onClick={toggleTz} title="Show times in UTC or local time">
            {tz === 'utc' ? 'UTC' : 'Local time'}
          </button>
          <button
            type="button"
            className="btn-ghost"
            data-testid="theme-toggle"
            onClick={toggleTheme}
            title={theme === 'dark' ? 'Switch to light mode' : 'Switch to dark mode'}
            aria-label={theme === 'dark' ? 'Switch to light mode' : 'Switch to dark mode'}
          >
            {theme === 'dark' ? '☀ Light' : '☾ Dark'}
          </button>
          <UserMenu onLoggedOut={() => setLoggedOut(true)} />
        </div>
      </header>
      <main className="main">{page}</main>
      {help && <ShortcutHelp onClose={() => setHelp(false)} />}
    </div>
  );
}

const SHORTCUTS: [string, string][] = [
  ['/', 'Focus the search form, or the find box on a trace'],
  ['j / ↓', 'Next span in the timeline'],
  ['k / ↑', 'Previous span in the timeline'],
  ['Enter', 'Open or close the focused span’s details'],
  ['x', 'Collapse or expand the focused span'],
  ['n / N', 'Next / previous match of the find box'],
  ['Esc', 'Close the span details, clear the find box'],
  ['?', 'Show or hide this help'],
];

function ShortcutHelp({ onClose }: { onClose: () => void }) {
  useKeyboard({ Escape: onClose });
  return (
    <div className="modal-backdrop" onClick={onClose}>
      <div className="modal" role="dialog" aria-modal="true" aria-label="Keyboard shortcuts" onClick={(e) => e.stopPropagation()} data-testid="shortcut-help">
        <h2>Keyboard shortcuts</h2>
        <table className="kv">
          <tbody>
            {SHORTCUTS.map(([k, d]) => (
              <tr key={k}>
                <th>
                  <kbd>{k}</kbd>
                </th>
                <td>{d}</td>
              </tr>
            ))}
          </tbody>
        </table>
        <button type="button" onClick={onClose}>
          Close
        </button>
      </div>
    </div>
  );
}

function TraceIdJump() {
  const { navigate } = useRouter();
  return (
    <form
      className="trace-jump"
      onSubmit={(e) => {
        e.preventDefault();
        const input = e.currentTarget.elements.namedItem('traceid') as HTMLInputElement | null;
        const v = input?.value.trim() ?? '';
        if (v) navigate(`/trace/${encodeURIComponent(v)}`);
      }}
    >
      <input name="traceid" placeholder="Look up trace ID…" aria-label="Look up a trace by ID" data-testid="trace-id-lookup" />
    </form>
  );
}

/** The tenant the UI reads, when tenancy is on: a picker when the user may use more than one. */
function TenantSwitcher() {
  const tenants = config.session.tenants;
  const tenant = currentTenant();
  if (!tenants) return null;
  if (tenants.length === 0) {
    return (
      <span className="tenant-switcher" data-testid="tenant-none" title="Your account may not read any tenant">
        No tenant
      </span>
    );
  }
  if (tenants.length === 1) {
    return (
      <span className="tenant-switcher" data-testid="tenant-current" title="Tenant">
        {tenant}
      </span>
    );
  }
  return (
    <label className="tenant-switcher" title="The tenant whose traces are shown">
      <span className="sr-only">Tenant</span>
      <select data-testid="tenant-switcher" aria-label="Tenant" value={tenant ?? ''} onChange={(e) => switchTenant(e.target.value)}>
        {tenants.map((t) => (
          <option key={t} value={t}>
            {t}
          </option>
        ))}
      </select>
    </label>
  );
}

/** The logged-in user and, with Spoor's own login, a logout button. */
function UserMenu({ onLoggedOut }: { onLoggedOut: () => void }) {
  const { user, login } = config.session;
  const [busy, setBusy] = useState(false);
  if (!user && !login) return null;
  return (
    <div className="user-menu">
      {user && (
        <span className="user-name" data-testid="user-name" title="Logged in as">
          {user}
        </span>
      )}
      {login && (
        <button
          type="button"
          className="btn-ghost"
          data-testid="logout"
          disabled={busy}
          onClick={() => {
            setBusy(true);
            void logout().then(() => onLoggedOut());
          }}
        >
          Log out
        </button>
      )}
    </div>
  );
}

function LoggedOut() {
  return (
    <div className="app">
      <main className="main">
        <div className="empty-state" data-testid="logged-out">
          <h2>You are logged out</h2>
          <p>
            <a href={`${config.basePath}/login?return_to=${encodeURIComponent(`${config.basePath}/search`)}`}>Log in again</a>
          </p>
        </div>
      </main>
    </div>
  );
}
