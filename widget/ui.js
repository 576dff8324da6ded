// DOM helpers and the French wording shared by the views. Text always goes in through textContent;
// the only HTML inserted as such is `body_html`, already sanitised by the server for the families.

/** Creates an element: `h('p', {class: 'x'}, 'texte', child)`. */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith('on') && typeof value === 'function') {
      el.addEventListener(key.slice(2), value);
    } else if (value === true) {
      el.setAttribute(key, '');
    } else {
      el.setAttribute(key, String(value));
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Text only a screen reader reads. */
export const sr = (text) => h('span', { class: 'sr' }, text);

const live = () => document.getElementById('annonce');
const alertZone = () => document.getElementById('alerte');

/** A confirmation, shown and read politely. */
export function announce(text) {
  alertZone().textContent = '';
  alertZone().classList.remove('visible');
  const zone = live();
  // Emptying first makes screen readers read the same sentence again when repeated.
  zone.textContent = '';
  zone.classList.toggle('visible', Boolean(text));
  window.setTimeout(() => {
    zone.textContent = text;
  }, 50);
}

/** An error, shown and read at once. */
export function alertUser(text) {
  live().textContent = '';
  live().classList.remove('visible');
  alertZone().textContent = text;
  alertZone().classList.toggle('visible', Boolean(text));
}

/** Clears both message zones. */
export function clearMessages() {
  for (const zone of [live(), alertZone()]) {
    zone.textContent = '';
    zone.classList.remove('visible');
  }
}

/** Replaces the view. */
export function show(...children) {
  const view = document.getElementById('vue');
  view.replaceChildren();
  append(view, children);
  return view;
}

/** Moves focus to a heading or region without it entering the tab order. */
export function focusOn(el) {
  if (!el) return;
  if (!el.hasAttribute('tabindex')) el.setAttribute('tabindex', '-1');
  el.focus();
}

const DATE_TIME = new Intl.DateTimeFormat('fr-FR', {
  dateStyle: 'long',
  timeStyle: 'short',
  timeZone: 'Europe/Paris',
});
const TIME = new Intl.DateTimeFormat('fr-FR', { timeStyle: 'medium', timeZone: 'Europe/Paris' });

/** « 23 novembre 2026 à 09:00 », « 1er décembre 2026 à 08:00 » (Paris time, where the schools are). */
export function dateTime(iso) {
  if (!iso) return '';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  // French writes the first of the month as an ordinal; Intl prints a bare « 1 ».
  return DATE_TIME.formatToParts(d)
    .map((p) => (p.type === 'day' && p.value === '1' ? '1er' : p.value))
    .join('');
}

/** « 09:00:12 ». */
export function clockTime(date = new Date()) {
  return TIME.format(date);
}

/** A `<time>` element. */
export function timeEl(iso) {
  return h('time', { datetime: iso }, dateTime(iso));
}

// French labels of the API's codes, served by `GET /v1/labels` (loaded once, at start): the
// widget keeps no copy of them, and shows a code as is until they arrive.
const labels = { kinds: {}, purposes: {}, audiences: {}, roles: {} };

/** Takes the labels the API serves. */
export function useLabels(served) {
  for (const key of Object.keys(labels)) Object.assign(labels[key], (served && served[key]) || {});
}

/** Whether the labels have been loaded. */
export const labelsLoaded = () => Object.keys(labels.roles).length > 0;

export const kindLabel = (kind) => labels.kinds[kind] || kind;
export const purposeLabel = (purpose) => labels.purposes[purpose] || purpose;
export const audienceLabel = (audience) => labels.audiences[audience] || audience;
export const roleLabel = (role) => labels.roles[role] || role;

/** The state as a badge: its French label from the API, its colour from its code. */
export function stateBadge(state, label) {
  return h('span', { class: `etat etat-${state}` }, label || state);
}

/** « 3 jours ouvrables restants ». */
export function daysLeft(n) {
  if (n === null || n === undefined) return null;
  if (n === 0) return 'dernier délai dépassé';
  return n === 1 ? '1 jour ouvrable restant' : `${n} jours ouvrables restants`;
}

/** A definition list from [term, value] pairs, skipping empty values. */
export function facts(pairs) {
  const dl = h('dl', { class: 'faits' });
  for (const [term, value] of pairs) {
    if (value === null || value === undefined || value === '') continue;
    dl.append(h('div', {}, h('dt', {}, term), h('dd', {}, value)));
  }
  return dl;
}

/**
 * The content exactly as families will see it: the title, then `body_html` inserted as HTML. The
 * server sanitised it with the function that feeds the families, and the CSP forbids any script.
 */
export function familyRendering(content, headingLevel = 3) {
  const body = h('div', { class: 'rendu-corps' });
  body.innerHTML = content.body_html;
  // A link must not navigate the framed widget away from the review.
  for (const a of body.querySelectorAll('a[href]')) {
    a.setAttribute('target', '_blank');
    a.setAttribute('rel', 'noopener noreferrer nofollow');
  }
  return h(
    'section',
    { class: 'rendu', 'aria-label': 'Ce que verront les familles' },
    h('p', { class: 'rendu-bandeau' }, 'Aperçu exact pour les familles'),
    h(`h${headingLevel}`, { class: 'rendu-titre' }, content.title),
    body,
  );
}

/** Screening warnings and what sanitising removed. */
export function contentNotes(content) {
  const notes = [];
  for (const w of content.warnings || []) {
    notes.push(h('li', {}, w.message, w.excerpt ? ` (« ${w.excerpt} »)` : ''));
  }
  for (const s of content.sanitised || []) {
    notes.push(h('li', {}, `Retiré au nettoyage : ${s}`));
  }
  if (!notes.length) return null;
  return h('div', { class: 'remarques' }, h('p', {}, 'À vérifier :'), h('ul', {}, notes));
}

/** The line diff with the previous version. */
export function diffSection(detail, level = 3) {
  const title = h(`h${level}`, {}, detail.previous_version
    ? `Modifications depuis la version ${detail.previous_version}`
    : 'Modifications');
  if (!detail.previous_version) {
    return h('section', { class: 'bloc' }, title, h('p', {}, 'Première version : aucune version précédente.'));
  }
  const changed = (detail.changes || []).filter((c) => c.tag !== 'equal').length;
  const list = h('ol', { class: 'diff' });
  for (const line of detail.changes || []) {
    const text = line.text === '' ? '\u00a0' : line.text;
    if (line.tag === 'insert') {
      list.append(h('li', { class: 'diff-ajout' }, h('ins', {}, sr('Ajouté : '), h('span', { 'aria-hidden': 'true' }, '+ '), text)));
    } else if (line.tag === 'delete') {
      list.append(h('li', { class: 'diff-retrait' }, h('del', {}, sr('Supprimé : '), h('span', { 'aria-hidden': 'true' }, '− '), text)));
    } else {
      list.append(h('li', { class: 'diff-egal' }, h('span', { 'aria-hidden': 'true' }, '\u00a0\u00a0'), text));
    }
  }
  return h(
    'section',
    { class: 'bloc' },
    title,
    detail.content.change_note ? h('p', {}, 'Note de la collectivité : ', h('q', {}, detail.content.change_note)) : null,
    h('p', { class: 'discret' }, changed === 0 ? 'Aucune ligne modifiée.' : `${changed} ligne(s) ajoutée(s) ou supprimée(s).`),
    list,
  );
}

/** The review's history, oldest first. */
export function historySection(history, level = 3) {
  const list = h('ol', { class: 'historique' });
  for (const e of history || []) {
    list.append(
      h(
        'li',
        {},
        timeEl(e.at),
        ' — ',
        h('strong', {}, e.action_label || e.action),
        e.version ? ` (version ${e.version})` : '',
        ` par ${e.actor_name} (${roleLabel(e.role)})`,
        e.motive ? h('span', { class: 'motif' }, ' : ', h('q', {}, e.motive)) : null,
      ),
    );
  }
  return h('section', { class: 'bloc' }, h(`h${level}`, {}, 'Historique'), list);
}

/** A statement (motive, escalation, decision) quoted with who and when. */
export function statement(title, st, level = 3) {
  if (!st) return null;
  return h(
    'section',
    { class: 'bloc' },
    h(`h${level}`, {}, title),
    h('blockquote', { class: 'declaration' }, h('p', {}, st.text)),
    h('p', { class: 'discret' }, `${st.by} (${roleLabel(st.role)}), le `, timeEl(st.at)),
  );
}

let motiveCount = 0;

/**
 * A required motive: label, hint, textarea, and an error slot tied to it. `check()` refuses an empty
 * motive, says why next to the field and moves focus there; `fail(detail)` shows the server's reason.
 */
export function motiveField(label, hint) {
  motiveCount += 1;
  const id = `motif-${motiveCount}`;
  const error = h('p', { id: `${id}-erreur`, class: 'erreur-champ', hidden: true });
  const textarea = h('textarea', {
    id,
    name: 'motive',
    rows: 4,
    'aria-required': 'true',
    'aria-describedby': `${id}-aide ${id}-erreur`,
  });
  const field = h(
    'div',
    { class: 'champ' },
    h('label', { for: id }, label, ' ', h('span', { class: 'obligatoire' }, '(obligatoire)')),
    h('p', { id: `${id}-aide`, class: 'aide' }, hint),
    textarea,
    error,
  );
  const fail = (message) => {
    error.textContent = message;
    error.hidden = false;
    textarea.setAttribute('aria-invalid', 'true');
    textarea.focus();
  };
  const clear = () => {
    error.textContent = '';
    error.hidden = true;
    textarea.removeAttribute('aria-invalid');
  };
  textarea.addEventListener('input', () => {
    if (textarea.value.trim()) clear();
  });
  return {
    field,
    textarea,
    value: () => textarea.value.trim(),
    check(emptyMessage) {
      if (textarea.value.trim()) {
        clear();
        return true;
      }
      fail(emptyMessage);
      alertUser(emptyMessage);
      return false;
    },
    fail,
    clear,
  };
}

/** Disables the buttons while a request runs, so a decision cannot be sent twice. */
export async function whileBusy(buttons, action) {
  for (const b of buttons) {
    b.disabled = true;
    b.setAttribute('aria-disabled', 'true');
  }
  try {
    return await action();
  } finally {
    for (const b of buttons) {
      b.disabled = false;
      b.removeAttribute('aria-disabled');
    }
  }
}

/**
 * "My deadlines in my calendar": creates, on request, a private calendar feed and shows its
 * address this once (the service keeps only a fingerprint of its secret). Built once per view, so
 * the address stays on screen while the person moves between the list and a detail.
 */
export function calendarSection(api) {
  const result = h('div', { class: 'agenda-resultat' });
  const button = h(
    'button',
    { type: 'button', class: 'bouton secondaire', id: 'creer-agenda' },
    'Créer une adresse d’abonnement',
  );
  button.addEventListener('click', () =>
    whileBusy([button], async () => {
      let feed;
      try {
        feed = await api.post('/v1/calendar-feeds', {});
      } catch (e) {
        // A 401 already shows the expired-session panel.
        if (e.status !== 401) alertUser(e.message);
        return;
      }
      const field = h('input', {
        id: 'adresse-agenda',
        class: 'adresse',
        type: 'text',
        readonly: true,
        value: feed.url,
        'aria-describedby': 'aide-agenda',
      });
      result.replaceChildren(
        h('label', { for: 'adresse-agenda' }, 'Adresse à ajouter à votre agenda'),
        field,
        h(
          'p',
          { id: 'aide-agenda', class: 'discret' },
          'Copiez-la dans votre agenda (« s’abonner à un calendrier » ou « ajouter par URL »). Elle ne sera plus affichée, et elle suffit à lire vos échéances : gardez-la pour vous.',
        ),
        h('p', {}, h('a', { href: feed.url.replace(/^https?:/, 'webcal:') }, 'Ouvrir dans mon agenda')),
      );
      field.focus();
      field.select();
      announce('Adresse d’abonnement créée : ajoutez-la à votre agenda.');
    }),
  );
  return h(
    'section',
    { class: 'agenda', 'aria-labelledby': 'titre-agenda' },
    h('h2', { id: 'titre-agenda' }, 'Mes échéances dans mon agenda'),
    h(
      'p',
      {},
      'Une adresse privée que votre agenda consulte d’heure en heure : chaque échéance y figure à son heure légale, avec un rappel la veille ; une décision prise l’en retire.',
    ),
    button,
    result,
  );
}
