// A user's own sign-in methods in Chromium, with its virtual WebAuthn authenticator (Chrome
// DevTools Protocol) standing in for a security key or a phone: the user signs in to /account,
// adds an authenticator app (proved with a code), registers a passkey, signs in again with the
// passkey alone, and, once a policy asks for MFA, uses the passkey as the second factor.
//
// Usage: node account.mjs BASE_URL USERNAME PASSWORD SCREENSHOT_DIR POLICY_COMMAND
// POLICY_COMMAND is run (by /bin/sh) at the step where the policy must start to apply.
import { execSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { launch, totp } from './shared.mjs';

const [base, username, password, shots, policyCommand] = process.argv.slice(2);
if (!policyCommand) {
  console.error('usage: node account.mjs BASE_URL USERNAME PASSWORD SCREENSHOT_DIR POLICY_COMMAND');
  process.exit(2);
}
mkdirSync(shots, { recursive: true });
const deadline = setTimeout(() => { console.error('account test: timed out after 120 s'); process.exit(1); }, 120_000);
const check = (condition, message) => { if (!condition) throw new Error(`check failed: ${message}`); };


const { context, close } = await launch({ width: 900, height: 800 });
const page = context.pages()[0] ?? await context.newPage();
page.setDefaultTimeout(15_000);
const problems = [];
page.on('console', (m) => {
  if (m.type() === 'error' && !/status of 4(22|01)/.test(m.text())) problems.push(`console error on ${page.url()}: ${m.text()}`);
});
page.on('pageerror', (e) => problems.push(`script error on ${page.url()}: ${e.message}`));

const cdp = await context.newCDPSession(page);
await cdp.send('WebAuthn.enable', { enableUI: false });
const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
  options: {
    protocol: 'ctap2', transport: 'internal', hasResidentKey: true, hasUserVerification: true,
    isUserVerified: true, automaticPresenceSimulation: true,
  },
});

let shot = 0;
async function snap(name) {
  await page.waitForLoadState('networkidle');
  const text = await page.evaluate(() => document.body.innerText);
  check(text.trim().length > 40, `${name}: the page is blank`);
  check(!/went wrong|internal error|expired/i.test(text), `${name}: the page shows an error`);
  shot += 1;
  await page.screenshot({ path: join(shots, `account-${String(shot).padStart(2, '0')}-${name}.png`), fullPage: true });
  console.log(`  ${name}: ok`);
}
const step = (s) => console.log(`- ${s}`);

async function passwordSignIn() {
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
}

try {
  step('sign in to the account page with the password');
  await page.goto(`${base}/account`);
  check(await page.getByRole('button', { name: 'Sign in with a passkey' }).isVisible(), 'the sign-in page offers passkeys');
  await snap('sign-in-page');
  await passwordSignIn();
  await page.waitForURL(`${base}/account`);
  await page.getByRole('heading', { name: 'Your account' }).waitFor();
  await snap('account');

  step('add an authenticator app, proved with a code');
  await page.getByRole('button', { name: 'Add an authenticator app' }).click();
  const secret = (await page.locator('#totp-secret').textContent()).trim();
  await snap('account-totp-setup');
  await page.getByLabel('Code from the app').fill('123456' === totp(secret) ? '654321' : '123456');
  await page.getByRole('button', { name: 'Confirm' }).click();
  await page.getByText('That code is not right.').waitFor();
  await page.getByLabel('Code from the app').fill(totp(secret));
  await page.getByRole('button', { name: 'Confirm' }).click();
  await page.getByText('Your authenticator app is set up.').waitFor();

  step('register a passkey');
  await page.getByLabel('Passkey name').fill('Laptop passkey');
  await page.getByRole('button', { name: 'Add a passkey' }).click();
  await page.getByText('Your passkey is registered.').waitFor();
  check(await page.getByText('Laptop passkey').isVisible(), 'the passkey is listed');
  const { credentials } = await cdp.send('WebAuthn.getCredentials', { authenticatorId });
  check(credentials.length === 1, 'the authenticator holds one credential');
  await snap('account-methods');

  step('sign in again with the passkey alone');
  await context.clearCookies();
  await page.goto(`${base}/account`);
  await page.getByLabel('Username').fill(username);
  await page.getByRole('button', { name: 'Sign in with a passkey' }).click();
  await page.waitForURL(`${base}/account`);
  await page.getByRole('heading', { name: 'Your account' }).waitFor();

  step('a policy asks for MFA: the passkey is the second factor');
  execSync(policyCommand, { stdio: 'inherit', shell: '/bin/sh' });
  let asked = false;
  for (let i = 0; i < 30 && !asked; i += 1) {
    await context.clearCookies();
    await page.goto(`${base}/account`);
    await passwordSignIn();
    await page.waitForLoadState('networkidle');
    asked = await page.getByRole('button', { name: 'Use a passkey instead' }).isVisible();
    if (!asked) await new Promise((ok) => setTimeout(ok, 500));
  }
  check(asked, 'the policy asks for a second factor');
  await snap('mfa-with-passkey');
  await page.getByRole('button', { name: 'Use a passkey instead' }).click();
  await page.waitForURL(`${base}/account`);
  await page.getByRole('heading', { name: 'Your account' }).waitFor();

  check(problems.length === 0, `no browser problems:\n${problems.join('\n')}`);
  console.log(`account test: ${shot} pages checked`);
} catch (e) {
  await page.screenshot({ path: join(shots, 'account-failure.png'), fullPage: true }).catch(() => {});
  console.error(`account test failed on ${page.url()}: ${e.message}`);
  if (problems.length) console.error(problems.join('\n'));
  process.exitCode = 1;
} finally {
  await close();
  clearTimeout(deadline);
}
