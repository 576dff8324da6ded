// The head's view: the inbox, soonest deadline first, and one review at a time with the content as
// families will see it, what changed, the history, and the decision.

import { SessionExpired } from './api.js';
import {
  audienceLabel,
  kindLabel,
  purposeLabel,
  alertUser,
  announce,
  clearMessages,
  contentNotes,
  daysLeft,
  dateTime,
  diffSection,
  facts,
  familyRendering,
  focusOn,
  h,
  historySection,
  motiveField,
  show,
  sr,
  stateBadge,
  statement,
  timeEl,
  whileBusy,
  calendarSection,
} from './ui.js';

const byDeadline = (a, b) => (a.deadline || '9999').localeCompare(b.deadline || '9999');
const byDecisionDesc = (a, b) =>
  (b.decided_at || b.opened_at || '').localeCompare(a.decided_at || a.opened_at || '');

/** Shows the head's inbox; returns nothing to stop (no polling here). */
export async function headView({ api }) {
  // Details fetched for the inbox, by review id: the list items carry neither title nor authority.
  const details = new Map();
  const agenda = calendarSection(api);

  async function detailOf(id) {
    if (!details.has(id)) details.set(id, await api.get(`/v1/reviews/${encodeURIComponent(id)}`));
    return details.get(id);
  }

  async function inbox(focusId = null) {
    const reviews = await api.all('/v1/reviews?limit=200');
    // A superseded review lives on in its successor's history.
    const shown = reviews.filter((r) => r.state !== 'superseded');
    const pending = shown.filter((r) => r.state === 'pending').sort(byDeadline);
    const done = shown.filter((r) => r.state !== 'pending').sort(byDecisionDesc);
    const loaded = await Promise.all(
      shown.map((r) =>
        detailOf(r.id).catch((e) => {
          if (e instanceof SessionExpired) throw e;
          return null;
        }),
      ),
    );
    const byId = new Map(shown.map((r, i) => [r.id, loaded[i]]));
    const card = (r) => {
      const d = byId.get(r.id);
      const title = d ? d.content.title : `Communication ${r.message_id}`;
      const left = r.state === 'pending' ? daysLeft(r.business_days_left) : null;
      const urgent = r.state === 'pending' && r.business_days_left !== null && r.business_days_left <= 1;
      return h(
        'li',
        { class: 'carte' },
        h('h3', { class: 'carte-titre' }, title),
        h(
          'p',
          { class: 'carte-meta' },
          d ? `${d.authority_name} · ${kindLabel(d.kind)}` : null,
        ),
        h('p', { class: 'carte-meta' }, `${r.school_name} (${r.uai}) · version ${r.version} · `, stateBadge(r.state, r.state_label)),
        r.state === 'pending' && r.deadline_in_words
          ? h(
              'p',
              { class: urgent ? 'echeance urgent' : 'echeance' },
              'Échéance : ',
              h('strong', {}, r.deadline_in_words),
              left ? ` — ${left}` : '',
            )
          : r.decided_at
            ? h('p', { class: 'carte-meta' }, 'Décidée le ', timeEl(r.decided_at))
            : null,
        h(
          'button',
          { type: 'button', class: 'bouton', 'data-review': r.id, onclick: () => open(r.id) },
          r.state === 'pending' ? 'Examiner' : 'Consulter',
          sr(` « ${title} » (${r.school_name})`),
        ),
      );
    };
    const list = (items, empty) =>
      items.length ? h('ul', { class: 'cartes' }, items.map(card)) : h('p', { class: 'vide' }, empty);
    show(
      h('h1', { id: 'titre-vue', tabindex: '-1' }, 'Communications à examiner'),
      h(
        'p',
        { class: 'intro' },
        'Sans décision de votre part avant l’échéance, une communication est approuvée tacitement. Une demande de rectification doit être motivée.',
      ),
      h(
        'section',
        { 'aria-labelledby': 'titre-a-examiner', id: 'a-examiner' },
        h('h2', { id: 'titre-a-examiner' }, `À examiner (${pending.length})`),
        list(pending, 'Aucune communication en attente de votre décision.'),
      ),
      h(
        'section',
        { 'aria-labelledby': 'titre-traitees', id: 'traitees' },
        h('h2', { id: 'titre-traitees' }, `Déjà traitées (${done.length})`),
        list(done, 'Aucune communication traitée pour l’instant.'),
      ),
      agenda,
    );
    if (focusId) {
      focusOn(document.querySelector(`button[data-review="${CSS.escape(focusId)}"]`) || document.getElementById('titre-vue'));
    }
  }

  async function open(id, fresh = null) {
    clearMessages();
    let d;
    try {
      d = fresh || (await api.get(`/v1/reviews/${encodeURIComponent(id)}`));
    } catch (e) {
      if (!(e instanceof SessionExpired)) alertUser(e.message);
      return;
    }
    details.set(id, d);
    const r = d.review;
    const back = h(
      'button',
      {
        type: 'button',
        class: 'bouton secondaire retour',
        onclick: () => inbox(id).catch(report),
      },
      '← Retour à la liste',
    );
    const heading = h('h2', { id: 'titre-detail', tabindex: '-1' }, d.content.title);
    show(
      h('h1', {}, 'Communications à examiner'),
      back,
      h(
        'article',
        { class: 'detail', 'aria-labelledby': 'titre-detail' },
        heading,
        facts([
          ['Collectivité', d.authority_name],
          ['Nature', kindLabel(d.kind)],
          ['Objet', purposeLabel(d.purpose)],
          ['Établissement', `${r.school_name} (${r.uai})`],
          ['Version', `${r.version}`],
          ['État', stateBadge(r.state, r.state_label)],
          ['Échéance', r.deadline_in_words],
          ['Délai restant', r.state === 'pending' ? daysLeft(r.business_days_left) : null],
          ['Vacances scolaires', r.school_holiday_warning],
          ['Publics', (d.content.audience || []).map(audienceLabel).join(' et ')],
          ['Affichage', `du ${dateTime(d.content.publish_at)} au ${dateTime(d.content.display_until)}`],
          ['Affichée depuis', r.live_from ? dateTime(r.live_from) : null],
        ]),
        contentNotes(d.content),
        familyRendering(d.content, 3),
        diffSection(d, 3),
        statement('Votre demande de rectification', r.rectification),
        statement('Déclaration de la collectivité (arbitrage)', r.escalation),
        statement(`Décision de l’arbitre${r.arbitrator_name ? ` (${r.arbitrator_name})` : ''}`, r.arbitration),
        r.state === 'pending' ? decision(d) : null,
        historySection(d.history, 3),
      ),
    );
    focusOn(heading);
  }

  function decision(d) {
    const id = d.review.id;
    const approve = h('button', { type: 'button', class: 'bouton primaire', id: 'approuver' }, 'Approuver');
    const motive = motiveField(
      'Motif de la demande de rectification',
      'Expliquez ce qui doit être corrigé : la collectivité et les services académiques le liront.',
    );
    const send = h('button', { type: 'submit', class: 'bouton' }, 'Demander une rectification');
    approve.addEventListener('click', () =>
      whileBusy([approve, send], async () => {
        try {
          const res = await api.post(`/v1/reviews/${encodeURIComponent(id)}/approve`);
          await open(id, res);
          const from = res.review.live_from ? ` Elle sera affichée dans l’établissement à partir du ${dateTime(res.review.live_from)}.` : '';
          announce(`Décision enregistrée : ${res.review.state_label}.${from}`);
        } catch (e) {
          if (!(e instanceof SessionExpired)) {
            alertUser(`Approbation impossible : ${e.message}`);
            approve.focus();
          }
        }
      }),
    );
    const form = h(
      'form',
      {
        class: 'formulaire',
        novalidate: true,
        'aria-labelledby': 'titre-rectification',
        onsubmit: (event) => {
          event.preventDefault();
          if (!motive.check('Le motif est obligatoire : la charte exige que toute demande de rectification soit motivée.')) return;
          whileBusy([approve, send], async () => {
            try {
              const res = await api.post(`/v1/reviews/${encodeURIComponent(id)}/rectification`, {
                motive: motive.value(),
              });
              await open(id, res);
              announce(`Demande de rectification envoyée : ${res.review.state_label}. La collectivité et les services académiques sont informés.`);
            } catch (e) {
              if (e instanceof SessionExpired) return;
              motive.fail(e.message);
              alertUser(`Demande refusée par le service : ${e.message}`);
            }
          });
        },
      },
      h('h4', { id: 'titre-rectification' }, 'Demander une rectification'),
      motive.field,
      send,
    );
    return h(
      'section',
      { class: 'bloc decision', 'aria-labelledby': 'titre-decision' },
      h('h3', { id: 'titre-decision' }, 'Votre décision'),
      h(
        'p',
        {},
        d.review.deadline_in_words
          ? `Sans décision avant le ${d.review.deadline_in_words}, l’accord sera tacite.`
          : 'Décidez avant l’échéance.',
      ),
      h('div', { class: 'actions' }, approve),
      form,
    );
  }

  function report(e) {
    if (!(e instanceof SessionExpired)) alertUser(e.message);
  }

  await inbox();
  return null;
}
