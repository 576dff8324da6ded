// The authority's view: its messages, each with where it stands in every targeted school, refreshed
// on demand and every 10 seconds while the page is visible.

import { SessionExpired } from './api.js';
import {
  kindLabel,
  alertUser,
  announce,
  clockTime,
  h,
  show,
  stateBadge,
  timeEl,
  calendarSection,
} from './ui.js';

const POLL_MS = 10_000;

/** The latest review of each school (the API lists each school's versions, newest first). */
function latestPerSchool(message) {
  const latest = new Map();
  for (const r of message.reviews || []) {
    const seen = latest.get(r.uai);
    if (!seen || r.version > seen.version) latest.set(r.uai, r);
  }
  return [...latest.values()].sort((a, b) => a.school_name.localeCompare(b.school_name, 'fr'));
}

/** Shows the authority's messages; returns a function that stops polling. */
export async function authorityView({ api }) {
  let timer = null;
  let stopped = false;
  let known = null; // review id → state, to say what changed since the last refresh
  let running = false;

  const updated = h('p', { class: 'discret', id: 'mise-a-jour' }, '');
  const refresh = h('button', { type: 'button', class: 'bouton', id: 'rafraichir' }, 'Rafraîchir');
  const list = h('div', { id: 'liste-messages' });

  show(
    h('h1', {}, 'Suivi de vos communications'),
    h(
      'p',
      { class: 'intro' },
      'L’état de chaque communication dans chaque établissement ciblé. La liste se met à jour toutes les 10 secondes.',
    ),
    h('div', { class: 'barre' }, refresh, updated),
    list,
    calendarSection(api),
  );

  function render(messages) {
    if (!messages.length) {
      list.replaceChildren(h('p', { class: 'vide' }, 'Aucune communication envoyée pour l’instant.'));
      return;
    }
    list.replaceChildren(
      h(
        'ul',
        { class: 'cartes' },
        messages.map((m) =>
          h(
            'li',
            { class: 'carte' },
            h('h2', { class: 'carte-titre' }, m.current_version.title),
            h(
              'p',
              { class: 'carte-meta' },
              `${kindLabel(m.kind)} · version ${m.current_version.number} · `,
              h('span', { class: 'statut' }, m.status_label || m.status),
            ),
            h('p', { class: 'carte-meta' }, 'Envoyée le ', timeEl(m.submitted_at)),
            h(
              'ul',
              { class: 'etats', 'aria-label': `États par établissement — ${m.current_version.title}` },
              latestPerSchool(m).map((r) =>
                h(
                  'li',
                  { 'data-review': r.id, 'data-uai': r.uai },
                  h('span', { class: 'ecole' }, r.school_name),
                  ' ',
                  stateBadge(r.state, r.state_label),
                  r.state === 'pending' && r.deadline_in_words
                    ? h('span', { class: 'echeance-courte' }, `Échéance : ${r.deadline_in_words}`)
                    : null,
                ),
              ),
            ),
          ),
        ),
      ),
    );
  }

  function changes(messages) {
    const now = new Map();
    const said = [];
    for (const m of messages) {
      for (const r of latestPerSchool(m)) {
        now.set(r.id, r.state);
        if (known && known.get(r.id) !== undefined && known.get(r.id) !== r.state) {
          said.push(`${r.school_name} : ${r.state_label}`);
        } else if (known && known.get(r.id) === undefined && known.size) {
          said.push(`${r.school_name} : ${r.state_label}`);
        }
      }
    }
    known = now;
    return said;
  }

  async function load(manual) {
    if (running || stopped) return;
    running = true;
    try {
      const messages = await api.all('/v1/messages?limit=200');
      // A message carries only its summary; its schools' reviews come a page at a time.
      await Promise.all(
        messages.map(async (m) => {
          m.reviews = await api.all(`/v1/messages/${encodeURIComponent(m.id)}/reviews?limit=200`);
        }),
      );
      if (stopped) return;
      render(messages);
      const said = changes(messages);
      updated.textContent = `Mis à jour à ${clockTime()}.`;
      if (said.length) {
        announce(`État mis à jour — ${said.join(' ; ')}.`);
      } else if (manual) {
        announce(`Liste à jour (${clockTime()}) : aucun changement.`);
      }
    } catch (e) {
      if (!(e instanceof SessionExpired)) alertUser(`Mise à jour impossible : ${e.message}`);
    } finally {
      running = false;
    }
  }

  function schedule() {
    window.clearTimeout(timer);
    if (stopped) return;
    timer = window.setTimeout(async () => {
      // No need to poll a tab nobody looks at; it catches up when shown again.
      if (!document.hidden) await load(false);
      schedule();
    }, POLL_MS);
  }

  const onVisible = () => {
    if (!document.hidden) load(false);
  };
  refresh.addEventListener('click', () => load(true));
  document.addEventListener('visibilitychange', onVisible);

  await load(false);
  schedule();

  return () => {
    stopped = true;
    window.clearTimeout(timer);
    document.removeEventListener('visibilitychange', onVisible);
  };
}
