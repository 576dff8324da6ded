// Calls to charte's own API (same origin: the CSP allows no other), with French errors from the
// problem details the server returns.

/** An API refusal, carrying the problem's `detail` to show as is. */
export class ApiError extends Error {
  constructor(status, detail, problem = null) {
    super(detail);
    this.status = status;
    this.detail = detail;
    this.problem = problem;
  }
}

/** A 401: the token expired or is no longer accepted. */
export class SessionExpired extends ApiError {}

const UNREACHABLE =
  'Le service charte ne répond pas : vérifiez votre connexion, puis réessayez.';

/**
 * An API client reading the token through `getToken` (so a token sent later by the ENT is used at
 * once) and calling `onExpired(detail)` on any 401.
 */
export function createApi(getToken, onExpired) {
  async function call(method, path, body) {
    const token = getToken();
    if (!token) throw new SessionExpired(401, 'Aucun jeton : ouvrez le widget depuis l’ENT.');
    const headers = { Accept: 'application/json', Authorization: `Bearer ${token}` };
    const init = { method, headers, credentials: 'omit', cache: 'no-store', referrerPolicy: 'no-referrer' };
    if (body !== undefined) {
      headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    let res;
    try {
      res = await fetch(path, init);
    } catch {
      throw new ApiError(0, UNREACHABLE);
    }
    let json = null;
    try {
      json = await res.json();
    } catch {
      json = null;
    }
    if (res.ok) return json;
    const detail =
      (json && (json.detail || json.title)) || `Le service a répondu par une erreur ${res.status}.`;
    if (res.status === 401) {
      // A token captured by the closure may have been replaced meanwhile: only the current one expires.
      if (getToken() === token) onExpired(detail);
      throw new SessionExpired(401, detail, json);
    }
    throw new ApiError(res.status, detail, json);
  }

  return {
    get: (path) => call('GET', path),
    post: (path, body) => call('POST', path, body),
    /** Every item of a paginated list (`items` + `next_cursor`), up to `maxPages` pages. */
    async all(path, maxPages = 10) {
      const items = [];
      let cursor = null;
      for (let page = 0; page < maxPages; page += 1) {
        const sep = path.includes('?') ? '&' : '?';
        const url = cursor ? `${path}${sep}cursor=${encodeURIComponent(cursor)}` : path;
        const res = await call('GET', url);
        items.push(...(res.items || []));
        cursor = res.next_cursor;
        if (!cursor) break;
      }
      return items;
    },
  };
}
