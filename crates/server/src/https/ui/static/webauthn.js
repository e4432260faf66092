// The WebAuthn ceremony of a sign-in or credential page. The server writes the options into
// the data-options attribute of #webauthn (data-ceremony "get" to sign in, "create" to enrol);
// this asks the browser's authenticator, puts the answer in the form's hidden "credential"
// field as JSON (binary fields in base64url, as the server reads them) and sends the form.
// It starts by itself once; the button starts it again after a cancel or an error.
(function () {
  "use strict";
  var box = document.getElementById("webauthn");
  if (!box) return;
  var status = document.getElementById("webauthn-status");
  var button = document.getElementById("webauthn-start");
  var field = document.getElementById("credential");
  var form = box.closest("form");

  function say(text) { status.textContent = text; }

  function fromB64u(s) {
    s = s.replace(/-/g, "+").replace(/_/g, "/");
    while (s.length % 4) s += "=";
    var bin = atob(s), out = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out.buffer;
  }

  function toB64u(buf) {
    var bytes = new Uint8Array(buf), s = "";
    for (var i = 0; i < bytes.length; i++) s += String.fromCharCode(bytes[i]);
    return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function ids(list) {
    return (list || []).map(function (c) { return Object.assign({}, c, { id: fromB64u(c.id) }); });
  }

  function options(ceremony) {
    var pk = JSON.parse(box.dataset.options).publicKey;
    pk.challenge = fromB64u(pk.challenge);
    if (ceremony === "create") {
      pk.user = Object.assign({}, pk.user, { id: fromB64u(pk.user.id) });
      pk.excludeCredentials = ids(pk.excludeCredentials);
    } else {
      pk.allowCredentials = ids(pk.allowCredentials);
    }
    return { publicKey: pk };
  }

  function answer(cred, ceremony) {
    var r = cred.response, out = {
      id: cred.id,
      rawId: toB64u(cred.rawId),
      type: cred.type,
      extensions: cred.getClientExtensionResults ? cred.getClientExtensionResults() : {},
      response: { clientDataJSON: toB64u(r.clientDataJSON) }
    };
    if (ceremony === "create") {
      out.response.attestationObject = toB64u(r.attestationObject);
      if (r.getTransports) out.response.transports = r.getTransports();
    } else {
      out.response.authenticatorData = toB64u(r.authenticatorData);
      out.response.signature = toB64u(r.signature);
      out.response.userHandle = r.userHandle ? toB64u(r.userHandle) : null;
    }
    return JSON.stringify(out);
  }

  function run() {
    var ceremony = box.dataset.ceremony;
    if (!window.PublicKeyCredential || !navigator.credentials) {
      say("This browser cannot use passkeys.");
      return;
    }
    if (!form.reportValidity()) return;
    button.disabled = true;
    say(ceremony === "create" ? "Follow your browser's prompt to create the passkey…" : "Follow your browser's prompt to use your passkey…");
    var call = ceremony === "create" ? navigator.credentials.create(options(ceremony)) : navigator.credentials.get(options(ceremony));
    call.then(function (cred) {
      field.value = answer(cred, ceremony);
      say("Checking…");
      form.submit();
    }).catch(function (e) {
      button.disabled = false;
      say(e && e.name === "NotAllowedError"
        ? "The passkey was not used (cancelled or timed out). Press the button to try again."
        : "The passkey did not work: " + (e && e.message ? e.message : e));
    });
  }

  button.addEventListener("click", run);
  // Signing in starts at once; enrolling waits for the name and the button.
  if (box.dataset.ceremony === "get") run();
})();
