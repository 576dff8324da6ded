// How the token reaches the widget without touching the server's logs, the URL it sees, or storage.
//
// 1. From the URL fragment (`/widget/#token=…`): browsers never send the fragment to the server, and
//    the script removes it at once with history.replaceState, so it does not stay in the address bar,
//    in the history entry, or in a bookmark.
// 2. From the embedding ENT by postMessage `{type: "charte:token", token}`. A message is accepted only
//    when it comes from our direct parent window AND its origin is one of the origins the server wrote
//    into <meta name="charte-embedders"> — the very list it enforces with CSP `frame-ancestors`. The
//    browser sets `event.origin`, so a page cannot forge it; `document.referrer` is not used because
//    Referrer-Policy may strip it and it names a page, not the sender of a message.
//
// The token lives in a module variable only: never localStorage, sessionStorage or a cookie.

const META = 'charte-embedders';

/** The origins allowed to frame the widget, as the server configured them. */
export function embedderPatterns() {
  const meta = document.querySelector(`meta[name="${META}"]`);
  const content = meta ? meta.getAttribute('content') || '' : '';
  return content.split(/\s+/).filter((o) => /^https?:\/\//.test(o));
}

/** Whether `origin` matches one configured pattern (exact, or `scheme://*.domain[:port]`). */
export function originAllowed(origin, patterns = embedderPatterns()) {
  if (typeof origin !== 'string' || origin === 'null') return false;
  return patterns.some((pattern) => {
    if (pattern === origin) return true;
    const m = /^(https?):\/\/\*\.([^/:]+)(:\d+)?$/.exec(pattern);
    if (!m) return false;
    let url;
    try {
      url = new URL(origin);
    } catch {
      return false;
    }
    const [, scheme, domain, port = ''] = m;
    return (
      url.protocol === `${scheme}:` &&
      url.hostname.endsWith(`.${domain}`) &&
      (port ? `:${url.port}` === port : url.port === '')
    );
  });
}

/** Reads `#token=…` and removes it from the address at once. */
export function takeTokenFromFragment() {
  const fragment = window.location.hash.replace(/^#/, '');
  if (!fragment) return null;
  const params = new URLSearchParams(fragment);
  if (!params.has('token')) return null;
  const token = params.get('token');
  params.delete('token');
  const rest = params.toString();
  const clean = window.location.pathname + window.location.search + (rest ? `#${rest}` : '');
  window.history.replaceState(window.history.state, '', clean);
  return token && token.trim() ? token.trim() : null;
}

/** Calls `onToken(token)` for each well-formed token message from an allowed parent. */
export function listenForTokens(onToken) {
  window.addEventListener('message', (event) => {
    if (window.parent === window || event.source !== window.parent) return;
    if (!originAllowed(event.origin)) return;
    const data = event.data;
    if (!data || typeof data !== 'object' || data.type !== 'charte:token') return;
    if (typeof data.token !== 'string' || data.token.length > 16384) return;
    const token = data.token.trim();
    if (token) onToken(token);
  });
}

/**
 * Tells the embedding ENT something that carries no secret (`charte:ready`, `charte:session-expired`).
 * Only exact configured origins are targeted: the browser drops a message whose target origin is not
 * the parent's, so nothing reaches a page that was not configured.
 */
export function tellParent(type) {
  if (window.parent === window) return;
  for (const origin of embedderPatterns()) {
    if (origin.includes('*')) continue;
    try {
      window.parent.postMessage({ type }, origin);
    } catch {
      // A malformed origin must not stop the others.
    }
  }
}

/**
 * The JWT's claims, decoded without verification: only to choose which view to show.
 * The server verifies the token on every call and remains the authority on what the user may do.
 */
export function decodeClaims(token) {
  const parts = token.split('.');
  if (parts.length !== 3) return null;
  try {
    const b64 = parts[1].replace(/-/g, '+').replace(/_/g, '/');
    const padded = b64 + '='.repeat((4 - (b64.length % 4)) % 4);
    const bytes = Uint8Array.from(atob(padded), (c) => c.charCodeAt(0));
    const claims = JSON.parse(new TextDecoder().decode(bytes));
    return claims && typeof claims === 'object' ? claims : null;
  } catch {
    return null;
  }
}
