// The arbitrator's view: disputes oldest first (they are urgent), both statements, the content in
// dispute, and the decision — authorise or uphold — with its required motive.

import { SessionExpired } from './api.js';
import {
  alertUser,
  announce,
  clearMessages,
  contentNotes,
  dateTime,
  facts,
  familyRendering,
  focusOn,
  h,
  motiveField,
  show,
  sr,
  stateBadge,
  statement,
  whileBusy,
  calendarSection,
} from './ui.js';

function age(d) {
  if (d.age_days >= 1) {
    return `${d.age_days} jour${d.age_days > 1 ? 's' : ''} (${d.age_hours} h)`;
  }
  return `${d.age_hours} h`;
}

/** Shows the disputes awaiting the arbitrator. */
export async function arbitratorView({ api }) {
  let disputes = [];
  const agenda = calendarSection(api);

  async function list(focusId = null) {
    disputes = await api.all('/v1/disputes?limit=200');
    const cards = disputes.map((d) =>
      h(
        'li',
        { class: 'carte' },
        h('h3', { class: 'carte-titre' }, d.content.title),
        h('p', { class: 'carte-meta' }, `${d.authority_name} · ${d.review.school_name} (${d.review.uai})`),
        h(
          'p',
          { class: d.age_days >= 2 ? 'echeance urgent' : 'echeance' },
          'Litige ouvert depuis ',
          h('strong', {}, age(d)),
        ),
        h(
          'button',
          { type: 'button', class: 'bouton', 'data-dispute': d.id, onclick: () => open(d.id) },
          'Examiner le litige',
          sr(` « ${d.content.title} » (${d.review.school_name})`),
        ),
      ),
    );
    show(
      h('h1', { id: 'titre-vue', tabindex: '-1' }, 'Litiges à arbitrer'),
      h(
        'p',
        { class: 'intro' },
        'Les plus anciens d’abord. Un litige persistant est urgent : la collectivité attend votre décision pour publier ou renoncer.',
      ),
      h(
        'section',
        { 'aria-labelledby': 'titre-litiges' },
        h('h2', { id: 'titre-litiges' }, `En attente de décision (${disputes.length})`),
        cards.length ? h('ul', { class: 'cartes' }, cards) : h('p', { class: 'vide' }, 'Aucun litige en attente.'),
      ),
      agenda,
    );
    if (focusId) {
      focusOn(document.querySelector(`button[data-dispute="${CSS.escape(focusId)}"]`) || document.getElementById('titre-vue'));
    }
  }

  function open(id) {
    clearMessages();
    const d = disputes.find((x) => x.id === id);
    if (!d) return;
    const r = d.review;
    const heading = h('h2', { id: 'titre-detail', tabindex: '-1' }, d.content.title);
    show(
      h('h1', {}, 'Litiges à arbitrer'),
      h('button', { type: 'button', class: 'bouton secondaire retour', onclick: () => list(id).catch(report) }, '← Retour à la liste'),
      h(
        'article',
        { class: 'detail', 'aria-labelledby': 'titre-detail' },
        heading,
        facts([
          ['Collectivité', d.authority_name],
          ['Établissement', `${r.school_name} (${r.uai})`],
          ['Autorité d’arbitrage', r.arbitrator_name || r.arbitrator],
          ['Version', `${r.version}`],
          ['État', stateBadge(r.state, r.state_label)],
          ['Litige ouvert depuis', age(d)],
          ['Saisine', r.escalation ? dateTime(r.escalation.at) : null],
        ]),
        statement('Motif du chef d’établissement', r.rectification),
        statement('Déclaration de la collectivité', r.escalation),
        contentNotes(d.content),
        familyRendering(d.content, 3),
        decision(d),
      ),
    );
    focusOn(heading);
  }

  function decision(d) {
    const motive = motiveField(
      'Motif de votre décision',
      'Obligatoire que vous autorisiez ou confirmiez le refus : il est communiqué à la collectivité et au chef d’établissement.',
    );
    const authorise = h('button', { type: 'submit', class: 'bouton primaire', value: 'authorise' }, 'Autoriser la publication');
    const uphold = h('button', { type: 'submit', class: 'bouton danger', value: 'uphold' }, 'Confirmer le refus');
    const form = h(
      'form',
      {
        class: 'formulaire',
        novalidate: true,
        'aria-labelledby': 'titre-decision',
        onsubmit: (event) => {
          event.preventDefault();
          // Enter in no button (none here: a textarea takes Enter) would leave no submitter.
          const choice = event.submitter ? event.submitter.value : null;
          if (choice !== 'authorise' && choice !== 'uphold') return;
          if (!motive.check('Le motif est obligatoire : toute décision d’arbitrage doit être motivée.')) return;
          whileBusy([authorise, uphold], async () => {
            try {
              const res = await api.post(`/v1/disputes/${encodeURIComponent(d.id)}/decision`, {
                decision: choice,
                motive: motive.value(),
              });
              await list();
              announce(`Décision enregistrée pour ${res.review.school_name} : ${res.review.state_label}.`);
              focusOn(document.getElementById('titre-vue'));
            } catch (e) {
              if (e instanceof SessionExpired) return;
              motive.fail(e.message);
              alertUser(`Décision refusée par le service : ${e.message}`);
            }
          });
        },
      },
      motive.field,
      h('div', { class: 'actions' }, authorise, uphold),
    );
    return h(
      'section',
      { class: 'bloc decision', 'aria-labelledby': 'titre-decision' },
      h('h3', { id: 'titre-decision' }, 'Votre décision'),
      form,
    );
  }

  function report(e) {
    if (!(e instanceof SessionExpired)) alertUser(e.message);
  }

  await list();
  return null;
}
