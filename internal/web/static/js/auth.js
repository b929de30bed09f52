// Signing in. Two modes, chosen by the server's /config.json:
//
// local — `recall token --link` (and `recall serve` at start) prints
//   http://HOST:PORT/#token=<JWT>. The fragment never reaches the server;
//   the page moves the token into sessionStorage and replaces the address
//   (history.replaceState), so it leaves neither the address bar nor the
//   history. A link or bare token can also be pasted into the sign-in form.
//
// oidc — the authorization code flow with PKCE (S256) against the issuer,
//   whose endpoints come from ${issuer}/.well-known/openid-configuration.
//   state and the code verifier wait in sessionStorage across the redirect.
//   The access token is sent as Bearer (config token_use "id" sends the ID
//   token instead): Cognito's access token names the app client in
//   client_id rather than aud, which API Gateway's JWT authorizer accepts
//   as the audience.

import * as store from './store.js';

export const token = () => store.get('token');
export const signOut = () => store.remove('token');

const jwtShape = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;

/** takeFragmentToken signs in from a #token=… address, if this is one, and
 * scrubs the token from the address and the history. */
export function takeFragmentToken() {
  const m = /^#token=([^&]*)/.exec(location.hash);
  if (!m) return false;
  history.replaceState(null, '', `${location.pathname}${location.search}#/`);
  const t = decodeURIComponent(m[1]);
  if (!jwtShape.test(t)) return false;
  store.set('token', t);
  return true;
}

/** signInWith accepts what a person pasted: a sign-in link or a token. */
export function signInWith(text) {
  const s = text.trim();
  const m = /#token=([^&\s]*)/.exec(s);
  const t = m ? decodeURIComponent(m[1]) : s;
  if (!jwtShape.test(t)) return false;
  store.set('token', t);
  return true;
}

function b64url(bytes) {
  let s = '';
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

const random = (n) => b64url(crypto.getRandomValues(new Uint8Array(n)));

async function discover(issuer) {
  const url = `${issuer.replace(/\/+$/, '')}/.well-known/openid-configuration`;
  let res;
  try {
    res = await fetch(url, { credentials: 'omit', cache: 'no-cache' });
  } catch {
    throw new Error(`The sign-in provider could not be reached (${url}).`);
  }
  if (!res.ok) throw new Error(`The sign-in provider answered ${res.status} for its configuration.`);
  const d = await res.json();
  if (d.issuer !== issuer) throw new Error(`The provider calls itself ${d.issuer}, not ${issuer}.`);
  return d;
}

const redirectURI = (cfg) => cfg.redirect_uri || `${location.origin}/`;

// The page's Content-Security-Policy, fixed when the page was served, lets
// it call the issuer's origin and the configured token endpoint's. A
// provider whose discovery names a token endpoint elsewhere could never
// finish a sign-in, so that is said before anyone is sent to sign in.
function checkTokenEndpoint(cfg, d) {
  const allowed = [cfg.issuer, cfg.token_endpoint].filter(Boolean).map((u) => new URL(u).origin);
  let origin = '';
  try {
    origin = new URL(d.token_endpoint).origin;
  } catch {
    // An absent or malformed endpoint is refused below.
  }
  if (!allowed.includes(origin)) {
    throw new Error(`The sign-in provider's token endpoint (${d.token_endpoint}) is not one this page may call; the deployment must name it as the token endpoint.`);
  }
}

/** beginSignIn sends the browser to the provider to sign in. */
export async function beginSignIn(cfg) {
  const d = await discover(cfg.issuer);
  checkTokenEndpoint(cfg, d);
  const verifier = random(32);
  const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(verifier));
  const state = random(16);
  store.set('oidc', { state, verifier, back: location.hash.startsWith('#/') ? location.hash : '#/' });
  const u = new URL(d.authorization_endpoint);
  u.search = new URLSearchParams({
    response_type: 'code',
    client_id: cfg.client_id,
    redirect_uri: redirectURI(cfg),
    scope: (cfg.scopes?.length ? cfg.scopes : ['openid']).join(' '),
    state,
    code_challenge: b64url(new Uint8Array(digest)),
    code_challenge_method: 'S256',
  }).toString();
  location.assign(u.toString());
}

/** isRedirect reports whether the page was loaded by the provider's
 * redirect back (…/?code=…&state=… or …/?error=…). */
export function isRedirect() {
  const q = new URLSearchParams(location.search);
  return q.has('state') && (q.has('code') || q.has('error'));
}

/** completeSignIn exchanges the code for tokens. It always scrubs the code
 * from the address first; it throws an Error whose message can be shown. */
export async function completeSignIn(cfg) {
  const q = new URLSearchParams(location.search);
  const saved = store.get('oidc');
  store.remove('oidc');
  history.replaceState(null, '', `${location.pathname}${saved?.back ?? '#/'}`);
  if (q.has('error')) throw new Error(`Sign-in failed: ${q.get('error_description') || q.get('error')}.`);
  if (!saved || q.get('state') !== saved.state) {
    throw new Error('The sign-in answer does not belong to a sign-in started here; please sign in again.');
  }
  const d = await discover(cfg.issuer);
  let res;
  try {
    res = await fetch(d.token_endpoint, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        grant_type: 'authorization_code',
        code: q.get('code'),
        redirect_uri: redirectURI(cfg),
        client_id: cfg.client_id,
        code_verifier: saved.verifier,
      }),
      credentials: 'omit',
      cache: 'no-store',
    });
  } catch {
    throw new Error('The sign-in provider could not be reached to finish signing in.');
  }
  const t = await res.json().catch(() => ({}));
  if (!res.ok) throw new Error(`Sign-in failed: ${t.error_description || t.error || res.status}.`);
  const bearer = cfg.token_use === 'id' ? t.id_token : t.access_token || t.id_token;
  if (!bearer || !jwtShape.test(bearer)) throw new Error('The sign-in provider sent no usable token.');
  store.set('token', bearer);
}
