// The API documentation page (/docs/) in headless Chromium against a running charte: it renders
// the operations with their French summaries, under its CSP, with no console error.
// Started by `cargo test --test docs_page`, which passes CHARTE_BASE_URL, CHARTE_CHROMIUM and
// CHARTE_ARTIFACTS.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { chromium } from 'playwright-core';

function env(name) {
  const value = process.env[name];
  if (!value) throw new Error(`variable d'environnement ${name} manquante (lancez cargo test --test docs_page)`);
  return value;
}

const BASE = env('CHARTE_BASE_URL');
const ARTIFACTS = env('CHARTE_ARTIFACTS');
const CHROMIUM = process.env.CHARTE_CHROMIUM || '/usr/bin/chromium';
fs.mkdirSync(ARTIFACTS, { recursive: true });

let browser;

before(async () => {
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
});

after(async () => {
  if (browser) await browser.close();
});

for (const address of ['/docs/', '/docs']) {
  test(`la documentation de l'API s'affiche à ${address}`, async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 1000 }, locale: 'fr-FR' });
    const page = await context.newPage();
    const problems = [];
    page.on('pageerror', (e) => problems.push(`exception : ${e.message}`));
    // A CSP violation or a missing asset shows here.
    page.on('console', (m) => { if (m.type() === 'error') problems.push(m.text()); });
    const failed = [];
    page.on('response', (r) => { if (r.status() >= 400) failed.push(`${r.status()} ${r.url()}`); });

    await page.goto(`${BASE}${address}`);
    assert.equal(new URL(page.url()).pathname, '/docs/');
    assert.equal(await page.title(), "charte — documentation de l'API v1");
    await page.getByText("Soumettre une communication à l'examen (ou publier une urgence)").waitFor({ timeout: 15000 });
    await page.getByText('Approuver (chef d’établissement)'.replace('’', "'")).first().waitFor();
    const operations = await page.locator('.opblock').count();
    assert.ok(operations >= 24, `opérations affichées : ${operations}`);
    // Opening an operation shows its error answers, described in French, as problem+json.
    await page.locator('.opblock-summary', { hasText: "Soumettre une communication" }).first().click();
    await page.getByText('chaque champ fautif est nommé').first().waitFor();
    await page.locator('option[value="application/problem+json"]').first().waitFor({ state: 'attached' });
    await page.screenshot({ path: path.join(ARTIFACTS, address === '/docs/' ? 'docs.png' : 'docs-redirect.png') });
    assert.deepEqual(failed, [], `ressources en échec :\n${failed.join('\n')}`);
    assert.deepEqual(problems, [], `erreurs dans la console :\n${problems.join('\n')}`);
    await context.close();
  });
}
