// The reviewer's flow in headless Chromium, against a real `countersign serve` that the Rust test
// (crates/countersign/tests/cli/web.rs) started and filled. Every page is checked with axe-core.
// Exits non-zero on the first failed expectation.
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { chromium } from 'playwright-core';

const require = createRequire(import.meta.url);
const axePath = require.resolve('axe-core/axe.min.js');
const { BASE_URL, ALICE_TOKEN, BOB_TOKEN, CHANGE_ID, SCREENSHOTS } = process.env;
for (const [name, value] of Object.entries({ BASE_URL, ALICE_TOKEN, BOB_TOKEN, CHANGE_ID })) {
  assert.ok(value, `${name} must be set`);
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-background-networking'],
});
const checked = [];

// The pages allow no script; axe is injected by the test alone.
async function newSession(viewport) {
  const context = await browser.newContext({ bypassCSP: true, viewport });
  return { context, page: await context.newPage() };
}

async function accessible(page, name) {
  await page.addScriptTag({ path: axePath });
  const results = await page.evaluate(async () =>
    // eslint-disable-next-line no-undef
    axe.run(document, { runOnly: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice'] }),
  );
  const problems = results.violations.map(
    (v) => `${v.id} (${v.impact}): ${v.help} at ${v.nodes.map((n) => n.target.join(' ')).join('; ')}`,
  );
  assert.deepEqual(problems, [], `accessibility of ${name}`);
  checked.push(name);
}

async function signIn(page, token) {
  await page.goto(`${BASE_URL}/`);
  assert.match(page.url(), /\/sign-in$/, 'a visitor without a session is sent to sign in');
  await page.getByLabel('Token').fill(token);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL(/\/queue$/);
}

async function shot(page, file) {
  if (SCREENSHOTS) await page.screenshot({ path: `${SCREENSHOTS}/${file}`, fullPage: true });
}

// A wrong token is refused on the sign-in page itself.
{
  const { context, page } = await newSession({ width: 1280, height: 900 });
  await page.goto(`${BASE_URL}/sign-in`);
  await accessible(page, 'sign-in');
  await page.getByLabel('Token').fill('cst_000000000000_nottherightsecret');
  await page.getByRole('button', { name: 'Sign in' }).click();
  assert.match(await page.locator('.problem').innerText(), /not known/);
  const cookies = await context.cookies();
  assert.ok(!cookies.some((c) => c.name === 'countersign_session'), 'no session for a wrong token');
  await context.close();
}

// Alice, a senior: queue, change, every file with its AI-written lines, approve, the verdict flips.
const alice = await newSession({ width: 1280, height: 900 });
{
  const { context, page } = alice;
  await signIn(page, ALICE_TOKEN);
  const session = (await context.cookies()).find((c) => c.name === 'countersign_session');
  assert.ok(session.httpOnly, 'the session cookie is HttpOnly');
  assert.equal(session.sameSite, 'Strict', 'the session cookie is SameSite=Strict');
  const item = page.locator('.queue li', { hasText: `Change ${CHANGE_ID}` });
  await assert.doesNotReject(item.waitFor(), 'the routed change is in alice\'s queue');
  assert.match(await item.innerText(), /AI-assisted/);
  assert.match(await item.innerText(), /tier 0/);
  assert.match(await item.innerText(), /bob \(junior\)/);
  await accessible(page, 'queue');
  await shot(page, 'queue.png');

  await item.getByRole('link').click();
  await page.waitForURL(new RegExp(`/changes/${CHANGE_ID}$`));
  assert.match(await page.locator('#verdict').innerText(), /blocked/);
  await accessible(page, 'change (blocked)');

  // Open the first file only, then approve: the informed rule does not count it.
  const files = await page.locator('table.files tbody a').evaluateAll((links) => links.map((a) => a.href));
  assert.ok(files.length >= 2, `the change has several files: ${files}`);
  await page.goto(files[0]);
  const aiLines = await page.locator('tr.ai-line').count();
  assert.ok(aiLines > 0, 'the AI-written lines are highlighted');
  assert.ok((await page.locator('tr.ai-line .ai-flag').count()) === aiLines, 'each is marked, not by colour alone');
  await accessible(page, 'file');
  await shot(page, 'file.png');
  await page.goto(`${BASE_URL}/changes/${CHANGE_ID}`);
  await page.getByRole('button', { name: 'Approve' }).click();
  await page.waitForURL(new RegExp(`/changes/${CHANGE_ID}$`));
  assert.match(await page.locator('#verdict').innerText(), /blocked/, 'an approval without opening every file');
  assert.match(await page.locator('.rules').innerText(), /given without opening/);

  // Open every file, then approve again.
  for (const file of files) {
    await page.goto(file);
    await page.locator('h1').waitFor();
  }
  await page.goto(`${BASE_URL}/changes/${CHANGE_ID}`);
  assert.match(await page.locator('#files-h + p').innerText(), new RegExp(`opened ${files.length} of ${files.length}`));
  await page.getByLabel('Comment').fill('Read every file; the AI-written totals are right.');
  await page.getByRole('button', { name: 'Approve' }).click();
  await page.waitForURL(new RegExp(`/changes/${CHANGE_ID}$`));
  assert.match(await page.locator('#verdict').innerText(), /allowed/, 'the verdict flips once every file was opened');
  assert.match(await page.locator('#reviews-h ~ ul').first().innerText(), new RegExp(`opened ${files.length} of`));
  await accessible(page, 'change (allowed)');
  await shot(page, 'change.png');
}

// Bob, the junior author: the page offers no approval, and a forged one is refused.
{
  const { context, page } = await newSession({ width: 390, height: 844 });
  await signIn(page, BOB_TOKEN);
  await page.goto(`${BASE_URL}/changes/${CHANGE_ID}`);
  assert.equal(await page.getByRole('button', { name: 'Approve' }).count(), 0, 'no approve button for the author');
  assert.match(await page.locator('#act-h ~ p').innerText(), /cannot approve or reject/);
  const csrf = await page.locator('form.sign-out input[name=csrf]').inputValue();
  const own = await page.request.post(`${BASE_URL}/changes/${CHANGE_ID}/review`, {
    form: { csrf, verdict: 'approve', comment: 'lgtm' },
    maxRedirects: 0,
  });
  assert.equal(own.status(), 403, 'a junior approving their own change is refused');
  assert.match(await own.text(), /responsible human|cannot approve/);

  const noToken = await page.request.post(`${BASE_URL}/changes/${CHANGE_ID}/review`, {
    form: { verdict: 'reject', comment: 'no token' },
    maxRedirects: 0,
  });
  assert.equal(noToken.status(), 403, 'a form without the CSRF token is refused');
  const crossSite = await page.request.post(`${BASE_URL}/changes/${CHANGE_ID}/review`, {
    form: { csrf, verdict: 'reject' },
    headers: { Origin: 'https://attacker.example' },
    maxRedirects: 0,
  });
  assert.equal(crossSite.status(), 403, 'a form from another site is refused, even with the token');
  await accessible(page, 'change on a phone');
  await shot(page, 'change-phone.png');

  // Sign-out ends the session on the server: the old cookie no longer works.
  const cookie = (await context.cookies()).find((c) => c.name === 'countersign_session');
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.waitForURL(/\/sign-in$/);
  const replay = await browser.newContext();
  await replay.addCookies([cookie]);
  const replayed = await replay.request.get(`${BASE_URL}/queue`, { maxRedirects: 0 });
  assert.equal(replayed.status(), 303, 'a signed-out session cookie is dead');
  await replay.close();
  await context.close();
}

// The dashboard draws its charts from what was recorded; the audit page verifies the chain.
{
  const { page } = alice;
  await page.goto(`${BASE_URL}/dashboard`);
  const charts = page.locator('svg.chart');
  assert.equal(await charts.count(), 8, 'the dashboard draws its charts');
  const senior = page.locator('section', { hasText: 'Senior load per week' });
  assert.match(await senior.innerText(), /senior and above, 3 people/);
  assert.ok((await senior.locator('rect title').count()) > 0, 'the senior load chart has bars from the recorded reviews');
  const gated = page.locator('section', { hasText: 'Changes gated per day' }).locator('svg rect[height]');
  assert.ok((await gated.count()) > 1, 'changes gated per day has bars (legend and data)');
  assert.match(await page.locator('section', { hasText: 'Open reviews per reviewer' }).innerText(), /Figures/);
  await accessible(page, 'dashboard');
  await shot(page, 'dashboard.png');

  await page.goto(`${BASE_URL}/audit?change=${CHANGE_ID}`);
  assert.match(await page.locator('#chain-status').innerText(), /Verified: \d+ entries/);
  const actions = await page.locator('table.audit tbody td:nth-child(4)').allInnerTexts();
  assert.ok(actions.includes('approval.recorded'), `approvals are on the record: ${actions}`);
  assert.ok(actions.includes('approval.refused'), `refusals are on the record: ${actions}`);
  assert.ok(actions.includes('rejection.refused'), `CSRF refusals are on the record: ${actions}`);
  await accessible(page, 'audit');
  await shot(page, 'audit.png');
  await alice.context.close();
}

await browser.close();
console.log(JSON.stringify({ ok: true, accessible: checked }));
