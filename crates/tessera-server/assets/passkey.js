// Passkeys on Tessera's sign-in and account pages: buttons with data-passkey="signin" (instead of
// the password), "verify" (as the second factor) or "register" (on the account page). The server
// sends webauthn-rs's options with binary values in base64url; the browser API wants them as
// ArrayBuffers, and its answer goes back the other way.
(() => {
  'use strict';
  const toBytes = (s) => {
    const b64 = s.replace(/-/g, '+').replace(/_/g, '/').padEnd(Math.ceil(s.length / 4) * 4, '=');
    return Uint8Array.from(atob(b64), (c) => c.charCodeAt(0)).buffer;
  };
  const toText = (buffer) => {
    if (!buffer) return null;
    let s = '';
    for (const b of new Uint8Array(buffer)) s += String.fromCharCode(b);
    return btoa(s).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  };

  async function post(url, body) {
    const response = await fetch(url, {
      method: 'POST',
      credentials: 'same-origin',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    const json = await response.json().catch(() => ({}));
    if (!response.ok) throw new Error(json.error_description || `The server answered ${response.status}.`);
    return json;
  }

  async function register(button) {
    const options = (await post('/account/passkeys/options', { csrf: button.dataset.csrf })).publicKey;
    options.challenge = toBytes(options.challenge);
    options.user.id = toBytes(options.user.id);
    for (const c of options.excludeCredentials || []) c.id = toBytes(c.id);
    const credential = await navigator.credentials.create({ publicKey: options });
    const label = document.getElementById('passkey-label');
    return post('/account/passkeys', {
      csrf: button.dataset.csrf,
      label: label ? label.value : '',
      credential: {
        id: credential.id,
        rawId: toText(credential.rawId),
        type: credential.type,
        response: {
          attestationObject: toText(credential.response.attestationObject),
          clientDataJSON: toText(credential.response.clientDataJSON),
        },
        extensions: credential.getClientExtensionResults(),
      },
    });
  }

  async function signIn(button, withUsername) {
    const request = button.dataset.request;
    const body = { csrf: button.dataset.csrf, request };
    if (withUsername) {
      const username = document.getElementById('username');
      if (!username || !username.value.trim()) throw new Error('Enter your username first.');
      body.username = username.value.trim();
    }
    const options = (await post('/login/passkey/options', body)).publicKey;
    options.challenge = toBytes(options.challenge);
    for (const c of options.allowCredentials || []) c.id = toBytes(c.id);
    const credential = await navigator.credentials.get({ publicKey: options });
    return post('/login/passkey', {
      csrf: button.dataset.csrf,
      request,
      credential: {
        id: credential.id,
        rawId: toText(credential.rawId),
        type: credential.type,
        response: {
          authenticatorData: toText(credential.response.authenticatorData),
          clientDataJSON: toText(credential.response.clientDataJSON),
          signature: toText(credential.response.signature),
          userHandle: toText(credential.response.userHandle),
        },
        extensions: credential.getClientExtensionResults(),
      },
    });
  }

  document.addEventListener('DOMContentLoaded', () => {
    for (const button of document.querySelectorAll('[data-passkey]')) {
      if (!window.PublicKeyCredential) {
        button.hidden = true;
        continue;
      }
      button.addEventListener('click', async () => {
        const error = document.getElementById('passkey-error');
        if (error) error.hidden = true;
        button.disabled = true;
        try {
          const mode = button.dataset.passkey;
          const done = mode === 'register' ? await register(button) : await signIn(button, mode === 'signin');
          window.location.assign(done.redirect);
        } catch (e) {
          if (error) {
            error.textContent = e.name === 'NotAllowedError' ? 'The passkey was not used.' : e.message;
            error.hidden = false;
          }
          button.disabled = false;
        }
      });
    }
  });
})();
