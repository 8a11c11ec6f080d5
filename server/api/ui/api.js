// Every call the page makes to jobd's API. With --token-file, jobd answers 401 until the page
// sends `Authorization: Bearer <token>`: the first 401 asks the person for the token (one
// dialog, however many calls were refused at once), keeps it in sessionStorage (this tab only,
// gone when it closes) and retries. The token is never put in a URL, so it reaches no log,
// history or Referer.
import { askForToken } from './token.js';

const TOKEN_KEY = 'jobd.token';

export function storedToken() {
  return sessionStorage.getItem(TOKEN_KEY);
}

export function forgetToken() {
  sessionStorage.removeItem(TOKEN_KEY);
  document.dispatchEvent(new Event('jobd-token'));
}

// An application/problem+json answer (RFC 9457): `type` is the stable key, `pointer` names the
// bad field (`/params/n`) when there is one.
export class Problem extends Error {
  constructor(status, body, retryAfter) {
    const problem = body && typeof body === 'object' ? body : {};
    super(problem.detail || problem.title || `HTTP ${status}`);
    this.status = status;
    this.type = problem.type || 'about:blank';
    this.title = problem.title || `HTTP ${status}`;
    this.detail = problem.detail || '';
    this.pointer = problem.pointer;
    this.retryAfter = retryAfter;
  }
}

// One dialog for every refused call: they all wait on the same answer.
let pendingToken = null;

async function obtainToken(refused) {
  if (!pendingToken) {
    const message = refused ? 'The token was refused: enter another one.' : '';
    pendingToken = askForToken(message).then((token) => {
      sessionStorage.setItem(TOKEN_KEY, token);
      document.dispatchEvent(new Event('jobd-token'));
      pendingToken = null;
    });
  }
  return pendingToken;
}

// fetch() with the token; on 401 asks for one and tries again. Returns the Response of any
// other status (the caller reads its body).
export async function request(method, path, { body, signal, headers } = {}) {
  for (;;) {
    const sent = storedToken();
    const init = { method, signal, cache: 'no-store', headers: new Headers(headers) };
    if (sent) init.headers.set('Authorization', `Bearer ${sent}`);
    if (body !== undefined) {
      init.headers.set('Content-Type', 'application/json');
      init.body = JSON.stringify(body);
    }
    const response = await fetch(path, init);
    if (response.status !== 401) return response;
    await response.body?.cancel();
    // Another call may have got a new token meanwhile: retry with it before asking again.
    if (storedToken() && storedToken() !== sent) continue;
    if (sent) sessionStorage.removeItem(TOKEN_KEY);
    await obtainToken(Boolean(sent));
  }
}

export async function problemOf(response) {
  let body = null;
  try {
    body = await response.json();
  } catch {
    // Not JSON (a proxy's page): the status says enough.
  }
  const retry = Number(response.headers.get('Retry-After'));
  return new Problem(response.status, body, Number.isFinite(retry) ? retry : undefined);
}

// A JSON call: the parsed body of a 2xx, or throws Problem.
export async function call(method, path, options) {
  const response = await request(method, path, options);
  if (!response.ok) throw await problemOf(response);
  return { status: response.status, body: await response.json(), headers: response.headers };
}

export const getJson = (path, options) => call('GET', path, options).then((r) => r.body);
