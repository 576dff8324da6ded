// Browser tests of the charte ENT widget, in headless Chromium, against a running charte.
// Started by `cargo test --test widget`, which creates the data and passes everything by environment:
//   CHARTE_BASE_URL, CHARTE_ENT_URL, CHARTE_ENT_BLOCKED_URL, CHARTE_CHROMIUM, CHARTE_ARTIFACTS,
//   HEAD_TOKEN, HEAD_KLEBER_TOKEN, ARBITRATOR_TOKEN, AUTHORITY_TOKEN, EXPIRED_TOKEN, TITLE_*.
// CHARTE_DOCS_SCREENSHOT, when set, is where the 360 px head view is also copied (for the README).
// axe-core is injected from node_modules by the test; the app never serves it.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { chromium } from 'playwright-core';

const require = createRequire(import.meta.url);

function env(name) {
  const value = process.env[name];
  if (!value) throw new Error(`variable d'environnement ${name} manquante (lancez cargo test --test widget)`);
  return value;
}

const BASE = env('CHARTE_BASE_URL');
const ENT_URL = env('CHARTE_ENT_URL');
const ENT_BLOCKED_URL = env('CHARTE_ENT_BLOCKED_URL');
const ARTIFACTS = env('CHARTE_ARTIFACTS');
const CHROMIUM = process.env.CHARTE_CHROMIUM || '/usr/bin/chromium';
const TOKENS = {
  head: env('HEAD_TOKEN'),
  headKleber: env('HEAD_KLEBER_TOKEN'),
  arbitrator: env('ARBITRATOR_TOKEN'),
  authority: env('AUTHORITY_TOKEN'),
  expired: env('EXPIRED_TOKEN'),
};
const TITLE = {
  approve: env('TITLE_APPROVE'),
  rectify: env('TITLE_RECTIFY'),
  dispute: env('TITLE_DISPUTE'),
  states: env('TITLE_STATES'),
};
const EXPIRED = "Votre session a expiré : rouvrez le widget depuis l'ENT.";
const AXE = fs.readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

fs.mkdirSync(ARTIFACTS, { recursive: true });

let browser;

before(async () => {
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
});

after(async () => {
  if (browser) await browser.close();
});

/** A fresh context (no shared memory, storage or cookies) and a page that records what matters. */
async function newPage({ width = 1024, height = 900 } = {}) {
  const context = await browser.newContext({
    viewport: { width, height },
    locale: 'fr-FR',
    timezoneId: 'Europe/Paris',
  });
  const page = await context.newPage();
  const problems = [];
  page.on('pageerror', (e) => problems.push(`exception : ${e.message}`));
  page.on('console', (m) => {
    // Failed API calls (401, 422) are logged by Chromium as errors: they are expected here.
    if (m.type() === 'error' && !/Failed to load resource/.test(m.text())) problems.push(m.text());
  });
  const requests = [];
  page.on('request', (r) => requests.push(r.url()));
  return { context, page, problems, requests };
}

async function openWidget(token, size) {
  const opened = await newPage(size);
  await opened.page.goto(`${BASE}/widget/#token=${encodeURIComponent(token)}`);
  return opened;
}

/** The token must be gone from the address and absent from every URL the server saw and from storage. */
async function assertTokenNotLeaked({ page, requests }, token) {
  assert.ok(!page.url().includes('token'), `jeton resté dans l'adresse : ${page.url()}`);
  for (const url of requests) assert.ok(!url.includes(token), `jeton dans une requête : ${url}`);
  const stored = await page.evaluate(() => ({
    local: localStorage.length,
    session: sessionStorage.length,
    cookie: document.cookie,
    history: location.href,
  }));
  assert.deepEqual(
    { local: stored.local, session: stored.session, cookie: stored.cookie },
    { local: 0, session: 0, cookie: '' },
  );
  assert.ok(!stored.history.includes(token));
}

/** Runs axe-core in the page or frame and requires zero violations. */
async function axeCheck(target, name) {
  // Evaluated through the DevTools protocol, which the page's CSP does not govern: the widget keeps
  // its strict policy during the test and never serves axe itself.
  await target.evaluate(AXE);
  const results = await target.evaluate(() =>
    window.axe.run(document, { resultTypes: ['violations'] }),
  );
  const report = results.violations
    .map((v) => `${v.id} (${v.impact}) : ${v.help}\n    ${v.nodes.map((n) => n.target.join(' ')).join('\n    ')}`)
    .join('\n');
  assert.equal(results.violations.length, 0, `axe-core, vue « ${name} » :\n${report}`);
}

async function screenshot(page, name) {
  const file = path.join(ARTIFACTS, name);
  await page.screenshot({ path: file, fullPage: true });
  return file;
}

function noProblems(problems) {
  assert.deepEqual(problems, [], `erreurs dans la console :\n${problems.join('\n')}`);
}

/** Presses Tab until `locator` has the focus, proving it is reachable by keyboard. */
async function tabTo(page, locator, max = 60) {
  const target = await locator.elementHandle();
  for (let i = 0; i < max; i += 1) {
    await page.keyboard.press('Tab');
    if (await target.evaluate((el) => el === document.activeElement)) return;
  }
  assert.fail(`élément jamais atteint au clavier en ${max} tabulations`);
}

/** The focused element must show a visible outline. */
async function assertVisibleFocus(page) {
  const outline = await page.evaluate(() => {
    const s = getComputedStyle(document.activeElement);
    return { style: s.outlineStyle, width: parseFloat(s.outlineWidth) };
  });
  assert.notEqual(outline.style, 'none', 'focus invisible');
  assert.ok(outline.width >= 2, `contour de focus trop fin : ${outline.width}px`);
}

const card = (page, title) => page.locator('li.carte', { has: page.getByRole('heading', { name: title }) });

test('chef d’établissement : examen au clavier, différences, historique, approbation (360 px)', async () => {
  const opened = await openWidget(TOKENS.head, { width: 360, height: 800 });
  const { page, problems } = opened;
  await page.getByRole('heading', { level: 1, name: 'Communications à examiner' }).waitFor();
  await page.getByRole('heading', { name: 'À examiner (2)' }).waitFor();
  await assertTokenNotLeaked(opened, TOKENS.head);

  // Soonest deadline first: the one-off (3 days) before the recurring one (5 days).
  const pending = page.locator('#a-examiner li.carte h3');
  assert.deepEqual(await pending.allTextContents(), [TITLE.approve, TITLE.rectify]);
  const first = card(page, TITLE.approve);
  await assert.doesNotReject(first.getByText('Région Grand Est').waitFor());
  assert.match(await first.locator('.echeance').innerText(), /Échéance : .*2026 à minuit — \d+ jours? ouvrables? restants?/);
  await axeCheck(page, 'chef — liste');
  await screenshot(page, 'widget-head-liste-360.png');

  const examine = first.getByRole('button', { name: `Examiner « ${TITLE.approve} »` });
  await tabTo(page, examine);
  await assertVisibleFocus(page);
  await page.keyboard.press('Enter');
  const heading = page.getByRole('heading', { level: 2, name: TITLE.approve });
  await heading.waitFor();
  assert.ok(await heading.evaluate((el) => el === document.activeElement), 'focus sur le titre du détail');

  // Families' rendering, inserted as the server's sanitised HTML.
  const rendering = page.getByRole('region', { name: 'Ce que verront les familles' });
  assert.equal(await rendering.locator('strong').innerText(), 'lundi 7 décembre');
  assert.equal(await rendering.locator('li').count(), 2);
  // The diff against version 1, and the history.
  await page.getByRole('heading', { name: 'Modifications depuis la version 1' }).waitFor();
  assert.match(await page.locator('.diff-retrait').first().innerText(), /7 h 10/);
  assert.match(await page.locator('.diff-ajout').first().innerText(), /7 h 15/);
  assert.match(await page.locator('.diff-ajout').first().innerText(), /Ajouté/);
  const history = await page.locator('.historique').innerText();
  assert.match(history, /Rectification demandée \(version 1\)/);
  assert.match(history, /Nouvelle version soumise \(version 2\)/);
  await axeCheck(page, 'chef — détail');
  const shot = await screenshot(page, 'widget-head-360.png');
  if (process.env.CHARTE_DOCS_SCREENSHOT) {
    fs.mkdirSync(path.dirname(process.env.CHARTE_DOCS_SCREENSHOT), { recursive: true });
    fs.copyFileSync(shot, process.env.CHARTE_DOCS_SCREENSHOT);
  }

  const approve = page.getByRole('button', { name: 'Approuver' });
  await approve.focus();
  await assertVisibleFocus(page);
  await page.keyboard.press('Space');
  await page.getByRole('status').filter({ hasText: 'Décision enregistrée : approuvée.' }).waitFor();
  await page.locator('.faits .etat', { hasText: 'approuvée' }).waitFor();
  assert.equal(await page.getByRole('button', { name: 'Approuver' }).count(), 0, 'plus de décision à prendre');

  await page.getByRole('button', { name: '← Retour à la liste' }).press('Enter');
  await page.getByRole('heading', { name: 'À examiner (1)' }).waitFor();
  assert.deepEqual(await page.locator('#a-examiner li.carte h3').allTextContents(), [TITLE.rectify]);
  const done = page.locator('#traitees li.carte', { has: page.getByRole('heading', { name: TITLE.approve }) });
  assert.equal(await done.locator('.etat').innerText(), 'approuvée');
  noProblems(problems);
  await opened.context.close();
});

test('chef d’établissement : un motif vide est refusé et expliqué, puis la rectification part', async () => {
  const opened = await openWidget(TOKENS.head);
  const { page, problems } = opened;
  await card(page, TITLE.rectify).getByRole('button', { name: /^Examiner/ }).click();
  await page.getByRole('heading', { level: 2, name: TITLE.rectify }).waitFor();

  const motive = page.getByRole('textbox', { name: /Motif de la demande de rectification/ });
  const send = page.getByRole('button', { name: 'Demander une rectification' });
  await send.focus();
  await page.keyboard.press('Enter');
  const why = 'Le motif est obligatoire : la charte exige que toute demande de rectification soit motivée.';
  await page.getByRole('alert').filter({ hasText: why }).waitFor();
  assert.equal(await motive.getAttribute('aria-invalid'), 'true');
  assert.ok(await motive.evaluate((el) => el === document.activeElement), 'focus ramené sur le motif');
  const describedBy = await motive.getAttribute('aria-describedby');
  const errorText = await page.locator(`#${describedBy.split(' ')[1]}`).innerText();
  assert.match(errorText, /Le motif est obligatoire/);
  await axeCheck(page, 'chef — motif manquant');
  await screenshot(page, 'widget-head-motif-vide.png');

  // Too short for the server: its 422 `detail` is shown as is.
  await page.keyboard.type('Date ?');
  await send.press('Enter');
  await page.getByRole('alert').filter({ hasText: 'Demande refusée par le service :' }).waitFor();
  const serverSays = await page.locator('.erreur-champ').innerText();
  assert.ok(serverSays.length > 0 && !serverSays.includes('obligatoire : la charte'), serverSays);

  await motive.fill('La date de réouverture du self doit être précisée aux familles.');
  await send.press('Enter');
  await page.getByRole('status').filter({ hasText: 'rectification demandée' }).waitFor();
  assert.equal(await page.locator('.faits .etat').innerText(), 'rectification demandée');
  await page.getByRole('heading', { name: 'Votre demande de rectification' }).waitFor();
  assert.equal(await page.getByRole('button', { name: 'Demander une rectification' }).count(), 0);
  noProblems(problems);
  await opened.context.close();
});

test('arbitre : les deux positions, le contenu, puis l’autorisation motivée', async () => {
  const opened = await openWidget(TOKENS.arbitrator);
  const { page, problems } = opened;
  await page.getByRole('heading', { level: 1, name: 'Litiges à arbitrer' }).waitFor();
  const item = card(page, TITLE.dispute);
  assert.match(await item.locator('.echeance').innerText(), /Litige ouvert depuis 1 jour \(4\d h\)/);
  await axeCheck(page, 'arbitre — liste');
  await item.getByRole('button', { name: /^Examiner le litige/ }).press('Enter');
  await page.getByRole('heading', { level: 2, name: TITLE.dispute }).waitFor();
  const text = await page.locator('article.detail').innerText();
  assert.match(text, /Motif du chef d’établissement\s+Le questionnaire doit d'abord être présenté au conseil d'administration\./);
  assert.match(text, /Déclaration de la collectivité\s+L'enquête est prévue par la convention de restauration/);
  assert.match(
    await page.getByRole('region', { name: 'Ce que verront les familles' }).innerText(),
    /répondant au questionnaire de la Région/,
  );
  await axeCheck(page, 'arbitre — litige');
  await screenshot(page, 'widget-arbitre.png');

  const authorise = page.getByRole('button', { name: 'Autoriser la publication' });
  await authorise.press('Enter');
  await page.getByRole('alert').filter({ hasText: 'toute décision d’arbitrage doit être motivée' }).waitFor();
  await page
    .getByRole('textbox', { name: /Motif de votre décision/ })
    .fill('La convention de restauration prévoit cette enquête auprès des familles.');
  await authorise.press('Enter');
  await page.getByRole('status').filter({ hasText: 'autorisée par l\'arbitre' }).waitFor();
  await page.getByRole('heading', { name: 'En attente de décision (0)' }).waitFor();
  noProblems(problems);
  await opened.context.close();
});

test('chef d’établissement : abonnement de son agenda à ses échéances', async () => {
  const opened = await openWidget(TOKENS.headKleber, { width: 360, height: 800 });
  const { page, problems } = opened;
  await page.getByRole('heading', { name: 'À examiner (1)' }).waitFor();
  const create = page.getByRole('button', { name: 'Créer une adresse d’abonnement' });
  await tabTo(page, create);
  await page.keyboard.press('Enter');
  const field = page.getByLabel('Adresse à ajouter à votre agenda');
  await field.waitFor();
  assert.ok(await field.evaluate((el) => el === document.activeElement), 'focus sur l’adresse, sélectionnée');
  const address = new URL(await field.inputValue());
  assert.match(address.pathname, /^\/v1\/calendar-feeds\/[0-9a-f-]{36}\/calendar\.ics$/);
  assert.ok(address.searchParams.get('token'), 'le secret est dans l’adresse');
  assert.match(await page.getByRole('link', { name: 'Ouvrir dans mon agenda' }).getAttribute('href'), /^webcal:/);
  await page.getByRole('status').filter({ hasText: 'Adresse d’abonnement créée' }).waitFor();
  await axeCheck(page, 'chef — agenda');
  await screenshot(page, 'widget-agenda-360.png');

  // What a calendar application reads at that address (on this test server), without any token.
  const res = await fetch(`${BASE}${address.pathname}${address.search}`);
  assert.equal(res.status, 200);
  const ics = await res.text();
  assert.match(ics, /^BEGIN:VCALENDAR\r\n/);
  assert.match(ics.replace(/\r\n /g, ''), new RegExp(`SUMMARY:Avis à rendre : ${TITLE.states}`));
  noProblems(problems);
  await opened.context.close();
});

test('collectivité : les états par établissement changent au rafraîchissement', async () => {
  const opened = await openWidget(TOKENS.authority);
  const { page, problems } = opened;
  await page.getByRole('heading', { level: 1, name: 'Suivi de vos communications' }).waitFor();
  const message = card(page, TITLE.states);
  const kleber = message.locator('li[data-uai="0670080Y"]');
  assert.match(await kleber.innerText(), /en attente de décision/);
  assert.match(await kleber.innerText(), /Échéance : .*à minuit/);
  // The other scenarios' outcomes are visible too.
  assert.match(await card(page, TITLE.dispute).innerText(), /autorisée par l'arbitre/);
  await axeCheck(page, 'collectivité');

  // Another school's head decides, through the API.
  const headers = { Authorization: `Bearer ${TOKENS.headKleber}`, 'Content-Type': 'application/json' };
  const inbox = await (await fetch(`${BASE}/v1/reviews?state=pending`, { headers })).json();
  assert.equal(inbox.items.length, 1, JSON.stringify(inbox));
  const res = await fetch(`${BASE}/v1/reviews/${inbox.items[0].id}/approve`, { method: 'POST', headers });
  assert.equal(res.status, 200);

  await page.getByRole('button', { name: 'Rafraîchir' }).press('Enter');
  await kleber.locator('.etat', { hasText: 'approuvée' }).waitFor();
  await page.getByRole('status').filter({ hasText: /État mis à jour — Lycée .* : approuvée/ }).waitFor();
  await axeCheck(page, 'collectivité — après rafraîchissement');
  await screenshot(page, 'widget-collectivite.png');
  noProblems(problems);
  await opened.context.close();
});

test('intégration dans un ENT d’une autre origine autorisée, jeton par postMessage', async () => {
  const opened = await newPage({ width: 1024, height: 1100 });
  const { page, problems, requests } = opened;
  const widgetUrl = `${BASE}/widget/`;
  await page.goto(`${ENT_URL}#widget=${encodeURIComponent(widgetUrl)}&token=${encodeURIComponent(TOKENS.head)}`);
  const frame = page.frameLocator('iframe');
  await frame.getByRole('heading', { level: 1, name: 'Communications à examiner' }).waitFor();
  await frame.getByRole('heading', { name: 'À examiner (0)' }).waitFor();
  assert.deepEqual(await page.evaluate(() => window.charteMessages), ['charte:ready']);
  for (const url of requests) assert.ok(!url.includes(TOKENS.head), `jeton dans une requête : ${url}`);
  const widget = page.frames().find((f) => f.url().startsWith(widgetUrl));
  assert.ok(widget, 'cadre du widget');
  await axeCheck(widget, 'widget dans l’ENT');
  await screenshot(page, 'widget-iframe.png');
  noProblems(problems);
  await opened.context.close();
});

test('une origine non autorisée ne peut pas intégrer le widget', async () => {
  const opened = await newPage();
  const { page } = opened;
  await page.goto(`${ENT_BLOCKED_URL}#widget=${encodeURIComponent(`${BASE}/widget/`)}&token=${encodeURIComponent(TOKENS.head)}`);
  await page.waitForTimeout(1500);
  const frames = page.frames().filter((f) => f !== page.mainFrame());
  assert.equal(frames.length, 1);
  const loaded = await frames[0].evaluate(() => Boolean(document.getElementById('vue'))).catch(() => false);
  assert.equal(loaded, false, 'frame-ancestors devait bloquer le widget');
  assert.deepEqual(await page.evaluate(() => window.charteMessages), []);
  await opened.context.close();
});

test('jeton expiré : le widget le dit en français', async () => {
  const opened = await openWidget(TOKENS.expired, { width: 360, height: 640 });
  const { page, problems } = opened;
  await page.getByRole('heading', { level: 1, name: 'Session expirée' }).waitFor();
  await page.getByRole('alert').filter({ hasText: EXPIRED }).waitFor();
  await assertTokenNotLeaked(opened, TOKENS.expired);
  await axeCheck(page, 'session expirée');
  await screenshot(page, 'widget-expire.png');
  noProblems(problems);
  await opened.context.close();
});
