// Drives the admin console of a running `tessera serve` in Chromium, as an operator would:
// signs in, enrols an authenticator and makes the console require MFA, signs in again with the
// one-time code, creates a user and a group, registers an API that subscribes to Shared Signals,
// creates a token-protection policy in report-only, asks what-if, switches the policy on, disables
// the user and watches the event reach the API's stream, opens a sign-in log entry, and approves a
// TV's device code sign-in at /device.
//
// Every page visited is saved as a screenshot and checked: rendered (not blank), no error text,
// no console errors (a CSP violation is one), no failed requests.
//
// Usage: node console.mjs BASE_URL ADMIN_PASSWORD SCREENSHOT_DIR
import { mkdirSync } from 'node:fs';
import { createServer } from 'node:http';
import { join } from 'node:path';
import { launch, totp } from './shared.mjs';

const [base, adminPassword, shots] = process.argv.slice(2);
if (!base || !adminPassword || !shots) {
  console.error('usage: node console.mjs BASE_URL ADMIN_PASSWORD SCREENSHOT_DIR');
  process.exit(2);
}
mkdirSync(shots, { recursive: true });
// The whole run is bounded: a hung page must not hang the test suite.
const deadline = setTimeout(() => { console.error('console test: timed out after 180 s'); process.exit(1); }, 180_000);

function check(condition, message) {
  if (!condition) throw new Error(`check failed: ${message}`);
}


// A Shared Signals receiver: accepts pushed SETs (RFC 8935) on 127.0.0.1.
const received = [];
const receiver = createServer((req, res) => {
  let body = '';
  req.on('data', (c) => { body += c; });
  req.on('end', () => {
    const payload = JSON.parse(Buffer.from(body.split('.')[1], 'base64url').toString());
    received.push(payload);
    res.writeHead(202).end();
  });
});
await new Promise((ok) => receiver.listen(0, '127.0.0.1', ok));
const receiverUrl = `http://127.0.0.1:${receiver.address().port}/events`;

const { context, close } = await launch({ width: 1280, height: 900 });
const page = context.pages()[0] ?? await context.newPage();
page.setDefaultTimeout(15_000);
const problems = [];
// A 422 answer to a form with errors is expected; anything else the browser reports is a problem.
page.on('console', (m) => {
  if (m.type() === 'error' && !m.text().includes('status of 422')) problems.push(`console error on ${page.url()}: ${m.text()}`);
});
page.on('pageerror', (e) => problems.push(`script error on ${page.url()}: ${e.message}`));
page.on('requestfailed', (r) => problems.push(`request failed: ${r.url()} ${r.failure()?.errorText}`));
page.on('response', (r) => {
  if (r.status() >= 500) problems.push(`${r.status()} from ${r.url()}`);
  if (r.status() === 404 && r.url().includes('/assets/')) problems.push(`missing asset ${r.url()}`);
});
page.on('dialog', (d) => { problems.push(`unexpected dialog: ${d.message()}`); d.dismiss(); });

let shot = 0;
async function snap(name) {
  await page.waitForLoadState('networkidle');
  const text = await page.evaluate(() => document.body.innerText);
  check(text.trim().length > 80, `${name}: the page is blank`);
  for (const bad of ['Something went wrong', 'internal error', 'The form expired']) {
    check(!text.includes(bad), `${name}: the page says "${bad}"`);
  }
  const styled = await page.evaluate(() => getComputedStyle(document.body).fontFamily);
  check(styled.includes('system-ui'), `${name}: the stylesheet did not load`);
  shot += 1;
  const file = join(shots, `${String(shot).padStart(2, '0')}-${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  console.log(`  ${name}: ok (${file})`);
}

const step = (s) => console.log(`- ${s}`);
try {
  step('sign in with the password');
  await page.goto(`${base}/admin`);
  check(page.url().includes('/authorize'), 'the console sends the browser to /authorize');
  await page.getByLabel('Username').fill('admin');
  await page.getByLabel('Password').fill(adminPassword);
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  await page.waitForURL(`${base}/admin`);
  await snap('overview');

  step('keyboard: the first Tab reaches "Skip to content"');
  await page.keyboard.press('Tab');
  check(await page.evaluate(() => document.activeElement?.textContent) === 'Skip to content', 'skip link is first');

  step('enrol an authenticator for the administrator');
  await page.goto(`${base}/admin/users/admin`);
  await page.getByRole('button', { name: 'Add authenticator (TOTP)' }).click();
  const secret = (await page.locator('#totp-secret').textContent()).trim();
  check(/^[A-Z2-7]+=*$/.test(secret), 'a base32 secret is shown');
  await snap('user-admin-totp');

  step('require MFA for the console');
  await page.goto(`${base}/admin/policies/new`);
  await page.locator('#id').fill('console-mfa');
  await page.getByLabel('Name', { exact: true }).fill('Console needs MFA');
  await page.getByLabel('On', { exact: true }).check();
  await page.locator('#includeUsers').fill('All');
  await page.locator('#includeApplications').fill('tessera-console');
  await page.getByLabel('Require multifactor authentication').check();
  await page.getByRole('button', { name: 'Save policy' }).click();
  await page.getByText('Policy created.').waitFor();

  step('sign out, and sign in again with the password and a one-time code');
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.getByRole('heading', { name: 'Signed out' }).waitFor();
  await page.goto(`${base}/admin`);
  await page.getByLabel('Username').fill('admin');
  await page.getByLabel('Password').fill(adminPassword);
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  await page.locator('input[name="code"]').waitFor();
  await snap('mfa-prompt');
  await page.locator('input[name="code"]').fill(totp(secret));
  await page.locator('form[action="/login/mfa"] button[type="submit"]').click();
  await page.waitForURL(`${base}/admin`);
  check(await page.getByRole('heading', { name: 'Overview' }).isVisible(), 'signed in with MFA');

  step('create a user (a field error first)');
  await page.goto(`${base}/admin/users`);
  await page.locator('#username').fill('dana lee');
  await page.locator('#password').fill('short');
  await page.getByRole('button', { name: 'Create user' }).click();
  await page.locator('#username-error').waitFor();
  check(await page.locator('#password-error').isVisible(), 'the password error is shown beside the input');
  check(await page.locator('#username').getAttribute('aria-invalid') === 'true', 'the input is marked invalid');
  await snap('user-create-errors');
  await page.locator('#username').fill('dana');
  await page.locator('#display_name').fill('Dana Lee');
  await page.locator('#email').fill('dana@example.com');
  await page.locator('#password').fill('dana-password-1');
  await page.getByRole('button', { name: 'Create user' }).click();
  await page.getByText('User dana created.').waitFor();
  const danaUrl = page.url();
  const danaId = danaUrl.split('/').pop();
  await snap('user-dana');

  step('search users (htmx)');
  await page.goto(`${base}/admin/users`);
  await page.locator('#q').fill('dan');
  await page.waitForURL(/q=dan/);
  check(await page.locator('#user-rows').getByRole('link', { name: 'dana' }).isVisible(), 'the search finds Dana');
  check(!(await page.locator('#user-rows').getByRole('link', { name: 'admin' }).isVisible()), 'and only her');
  await snap('users-search');

  step('create a group and add Dana');
  await page.goto(`${base}/admin/groups`);
  await page.locator('#id').fill('engineering');
  await page.locator('#name').fill('Engineering');
  await page.getByRole('button', { name: 'Create group' }).click();
  await page.getByText('Group Engineering created.').waitFor();
  await page.locator('#user').fill(danaId);
  await page.getByRole('button', { name: 'Add member' }).click();
  await page.getByText(`${danaId} added.`).waitFor();
  await snap('group');

  step('a named location (the CIDR editor refuses a bad range)');
  await page.goto(`${base}/admin/locations`);
  await page.locator('#id').fill('office');
  await page.locator('#display_name').fill('Head office');
  await page.locator('#ip_ranges').fill('10.0.0.0/8\n10.300.0.0/16');
  await page.getByRole('button', { name: 'Save location' }).click();
  await page.locator('#ip_ranges-error').waitFor();
  await snap('location-error');
  await page.locator('#ip_ranges').fill('10.0.0.0/8\n2001:db8::/32');
  await page.getByLabel('Trusted').check();
  await page.getByRole('button', { name: 'Save location' }).click();
  await page.getByText('Location Head office saved.').waitFor();
  await snap('locations');

  step('register an API that subscribes to Shared Signals');
  await page.goto(`${base}/admin/applications/new`);
  await page.locator('#id').fill('mail-api');
  await page.locator('#name').fill('Mail API');
  await page.getByLabel('Confidential').check();
  await page.getByLabel('authorization_code').uncheck();
  await page.getByLabel('refresh_token').uncheck();
  await page.getByLabel('client_credentials').check();
  await page.locator('#scopes').fill('ssf.manage ssf.read');
  await page.getByLabel('CAE capable').check();
  // A back-channel logout URI a browser would run is refused with the field named.
  await page.locator('#backchannel_logout_uri').fill('javascript:alert(1)');
  await page.getByRole('button', { name: 'Create application' }).click();
  await page.locator('#backchannel_logout_uri[aria-invalid="true"]').waitFor();
  check(await page.locator('#backchannel_logout_uri').inputValue() === 'javascript:alert(1)', 'the form keeps what was typed');
  await snap('application-errors');
  await page.locator('#backchannel_logout_uri').fill('https://mail.example/backchannel-logout');
  await page.getByRole('button', { name: 'Create application' }).click();
  const clientSecret = (await page.locator('#client-secret').textContent()).trim();
  check(clientSecret.length >= 32, 'the client secret is shown once');
  await snap('application-secret');
  const tokenResponse = await fetch(`${base}/token`, {
    method: 'POST',
    headers: {
      authorization: `Basic ${Buffer.from(`mail-api:${clientSecret}`).toString('base64')}`,
      'content-type': 'application/x-www-form-urlencoded',
    },
    body: 'grant_type=client_credentials&scope=ssf.manage',
  });
  check(tokenResponse.ok, `the API gets a token (${tokenResponse.status})`);
  const { access_token: apiToken } = await tokenResponse.json();
  const streamResponse = await fetch(`${base}/ssf/streams`, {
    method: 'POST',
    headers: { authorization: `Bearer ${apiToken}`, 'content-type': 'application/json' },
    body: JSON.stringify({
      delivery: { method: 'urn:ietf:rfc:8935', endpoint_url: receiverUrl },
      events_requested: [
        'https://schemas.openid.net/secevent/risc/event-type/account-disabled',
        'https://schemas.openid.net/secevent/caep/event-type/session-revoked',
      ],
      description: 'mail API',
    }),
  });
  check(streamResponse.status === 201, `the API creates a push stream (${streamResponse.status})`);
  const { stream_id: streamId } = await streamResponse.json();
  await page.goto(`${base}/admin/applications`);
  await snap('applications');

  step('a token-protection policy for desktop apps, in report-only');
  await page.goto(`${base}/admin/policies/new`);
  await page.locator('#id').fill('tp-desktop');
  await page.getByLabel('Name', { exact: true }).fill('Token protection for desktop apps');
  check(await page.getByLabel('Report-only', { exact: true }).isChecked(), 'a new policy starts in report-only');
  await page.locator('#includeUsers').fill('All');
  await page.getByLabel('Any client').uncheck();
  await page.getByLabel('Mobile apps and desktop clients').check();
  for (const p of ['Windows', 'macOS', 'Linux']) {
    await page.locator('input[name="includePlatforms"]').locator(`xpath=..`).filter({ hasText: p }).locator('input').check();
  }
  await page.getByLabel('Require token protection for sign-in sessions').check();
  check(await page.locator('#tp-guidance').getByText('start in report-only').isVisible(), 'the guidance is shown');
  await page.getByRole('button', { name: 'Save policy' }).click();
  await page.getByText('Policy created.').waitFor();
  await snap('policy-editor');

  step('what if Dana signs in from a Windows desktop app without a device-bound key?');
  await page.goto(`${base}/admin/what-if`);
  await page.locator('#user').fill(danaId);
  await page.locator('#application').fill('mail-api');
  await page.locator('#client_app_type').selectOption('mobileAppsAndDesktopClients');
  await page.locator('#platform').selectOption('windows');
  await page.locator('#token_binding').selectOption('missing');
  await page.getByRole('button', { name: 'Evaluate' }).click();
  await page.locator('#what-if-result h2').waitFor();
  check(page.url().endsWith('/admin/what-if'), 'htmx swapped the result in place');
  const row = page.locator('#what-if-result tr', { hasText: 'Token protection for desktop apps' });
  check(await row.getByText('reportOnlyFailure').isVisible(), 'the report-only policy would fail');
  await snap('what-if');

  step('switch the policy on (after confirming)');
  await page.goto(`${base}/admin/policies`);
  await page.getByRole('button', { name: 'Switch Token protection for desktop apps on' }).click();
  await page.getByRole('alertdialog').waitFor();
  await snap('policy-confirm');
  await page.getByRole('button', { name: 'Switch on' }).click();
  await page.getByText('tp-desktop is now on.').waitFor();
  check(await page.locator('tr', { hasText: 'Token protection for desktop apps' }).locator('.badge.on').isVisible(), 'the badge says On');
  await snap('policies');

  step('disable Dana and watch the event reach the API');
  await page.goto(danaUrl);
  await page.getByRole('button', { name: 'Disable user' }).click();
  await page.getByRole('alertdialog').waitFor();
  await page.getByRole('button', { name: 'Disable user' }).click();
  await page.getByText('User disabled.').waitFor();
  await page.goto(`${base}/admin/signals`);
  const eventRow = page.locator('#signals tr', { hasText: 'account-disabled' }).first();
  await eventRow.waitFor();
  // The page refreshes itself every 5 s (htmx); wait for the delivery to show.
  const delivered = eventRow.locator('td').nth(3);
  await page.waitForFunction(
    () => [...document.querySelectorAll('#signals tr')].some((tr) => tr.textContent.includes('account-disabled')
      && tr.querySelectorAll('td')[3]?.textContent.trim() === '1'),
    null, { timeout: 20_000 },
  );
  check((await delivered.textContent()).trim() === '1', 'delivered to the one stream');
  check(await page.locator('#signals tr', { hasText: streamId }).isVisible(), 'the stream is listed');
  check(received.some((set) => JSON.stringify(set.events).includes('account-disabled')), 'the API received the SET');
  await snap('signals');

  step('pause and resume the stream');
  await page.getByRole('button', { name: `Pause stream ${streamId}` }).click();
  await page.getByText(`Stream ${streamId} is now paused.`).waitFor();
  await page.getByRole('button', { name: `Resume stream ${streamId}` }).click();
  await page.getByText(`Stream ${streamId} is now enabled.`).waitFor();

  step('open a sign-in log entry');
  await page.goto(`${base}/admin/sign-ins?user=admin`);
  await snap('sign-ins');
  await page.locator('table a[href^="/admin/sign-ins/"]').first().click();
  await page.getByRole('heading', { name: "Every policy's result" }).waitFor();
  check(await page.getByText('Console needs MFA').first().isVisible(), "the console policy's result is listed");
  await snap('sign-in-detail');

  step('a TV signs in with the device code flow; the admin approves it at /device');
  const asked = await fetch(`${base}/device_authorization`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: 'client_id=console-tv&scope=openid',
  }).then((r) => r.json());
  check(/^[B-Z]{4}-[B-Z]{4}$/.test(asked.user_code ?? ''), `a user code (${JSON.stringify(asked)})`);
  await page.goto(asked.verification_uri_complete);
  await page.locator('#user_code').waitFor();
  check((await page.locator('#user_code').inputValue()) === asked.user_code, 'the complete URI filled the code in');
  await snap('device-code');
  await page.getByRole('button', { name: 'Continue' }).click();
  await page.getByRole('heading', { name: 'Sign in to Living-room TV on a device?' }).waitFor();
  await snap('device-confirm');
  await page.getByRole('button', { name: 'Sign in on the device' }).click();
  await page.getByText('is signed in').waitFor();
  await snap('device-approved');

  step('the remaining pages');
  for (const [path, name] of [['/admin/devices', 'devices'], ['/admin/groups', 'groups'], [`/admin/policies/tp-desktop`, 'policy']]) {
    await page.goto(`${base}${path}`);
    await snap(name);
  }

  check(problems.length === 0, `no browser problems:\n${problems.join('\n')}`);
  console.log(`console test: ${shot} pages checked, screenshots in ${shots}`);
} catch (e) {
  await page.screenshot({ path: join(shots, 'failure.png'), fullPage: true }).catch(() => {});
  console.error(`console test failed on ${page.url()}: ${e.message}`);
  if (problems.length) console.error(problems.join('\n'));
  process.exitCode = 1;
} finally {
  await close();
  receiver.close();
  clearTimeout(deadline);
}
