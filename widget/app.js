// Entry point: takes the token (fragment or ENT message), picks the view from the token's role, and
// shows the expired-session message whenever the API answers 401.

import { createApi, SessionExpired } from './api.js';
import { decodeClaims, listenForTokens, takeTokenFromFragment, tellParent } from './token.js';
import { alertUser, clearMessages, h, labelsLoaded, roleLabel, show, useLabels } from './ui.js';
import { headView } from './head.js';
import { arbitratorView } from './arbitrator.js';
import { authorityView } from './authority.js';

export const EXPIRED = "Votre session a expiré : rouvrez le widget depuis l'ENT.";

// In memory only, for the life of the page.
const session = { token: null, stop: null };

const api = createApi(() => session.token, expire);

function stopView() {
  if (session.stop) session.stop();
  session.stop = null;
}

function expire(detail) {
  stopView();
  session.token = null;
  document.getElementById('identite').textContent = '';
  clearMessages();
  show(
    h(
      'section',
      { class: 'expire', 'aria-labelledby': 'titre-expire' },
      h('h1', { id: 'titre-expire' }, 'Session expirée'),
      // The sentence itself is in the alert zone above, read out at once; this panel says what next.
      h('p', {}, 'Par sécurité, votre identité n’est transmise au widget que pour un temps limité. Ce qui n’a pas été envoyé n’est pas enregistré.'),
      detail ? h('p', { class: 'discret' }, `Réponse du service : ${detail}`) : null,
    ),
  );
  alertUser(EXPIRED);
  tellParent('charte:session-expired');
}

function waiting() {
  show(
    h('h1', {}, 'En attente de connexion'),
    h(
      'p',
      {},
      'Ouvrez ce widget depuis l’ENT de votre établissement : il vous y transmet votre identité.',
    ),
  );
}

const VIEWS = {
  head: headView,
  arbitrator: arbitratorView,
  authority_agent: authorityView,
  authority_representative: authorityView,
};

function describe(claims) {
  const who = claims.name || claims.sub || 'utilisateur';
  const scope =
    (Array.isArray(claims.uai) && claims.uai.length && `établissement ${claims.uai.join(', ')}`) ||
    claims.authority ||
    claims.arbitrator ||
    (claims.academie && `académie ${claims.academie}`) ||
    '';
  return `${who} — ${roleLabel(claims.role)}${scope ? ` (${scope})` : ''}`;
}

async function start(token) {
  stopView();
  session.token = token;
  clearMessages();
  const claims = decodeClaims(token);
  if (!claims) {
    show(h('h1', {}, 'Jeton illisible'), h('p', {}, 'Le jeton reçu n’est pas un JWT : rouvrez le widget depuis l’ENT.'));
    return;
  }
  if (!labelsLoaded()) {
    try {
      useLabels(await api.get('/v1/labels'));
    } catch (e) {
      // Expired: the session message is shown. Otherwise codes are shown as they are.
      if (e instanceof SessionExpired) return;
    }
    if (session.token !== token) return;
  }
  document.getElementById('identite').textContent = describe(claims);
  const view = VIEWS[claims.role];
  if (!view) {
    show(
      h('h1', {}, 'Aucune vue pour votre rôle'),
      h('p', {}, `Ce widget sert aux chefs d’établissement, aux arbitres et aux collectivités ; le rôle « ${roleLabel(claims.role)} » n’y a pas de vue. Utilisez l’API documentée sur /docs/.`),
    );
    return;
  }
  try {
    const stop = (await view({ api, claims })) || null;
    // The session may have expired or been replaced while the view loaded.
    if (session.token === token) session.stop = stop;
    else if (stop) stop();
  } catch (e) {
    if (!(e instanceof SessionExpired)) alertUser(e.message);
  }
}

listenForTokens((token) => {
  if (token !== session.token) start(token);
});

const fromFragment = takeTokenFromFragment();
if (fromFragment) {
  start(fromFragment);
} else {
  waiting();
}
// Even with a token: the ENT may renew it later.
tellParent('charte:ready');
