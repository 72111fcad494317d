/* Security keys (WebAuthn) for the sign-in, step-up and security pages, self-hosted (no CDN).
   A form marked data-webauthn="get" (sign in with a key) or "create" (add a key) asks the web
   service for the ceremony's options (data-options, a same-origin POST with the CSRF header), runs
   the browser's ceremony, puts the answer as JSON in the form's hidden "credential" field and
   submits the form. Without JavaScript or WebAuthn the forms say so and the other methods remain. */
(function () {
  "use strict";
  function b64urlToBuffer(value) {
    var text = value.replace(/-/g, "+").replace(/_/g, "/");
    while (text.length % 4) { text += "="; }
    var raw = atob(text), bytes = new Uint8Array(raw.length);
    for (var i = 0; i < raw.length; i++) { bytes[i] = raw.charCodeAt(i); }
    return bytes.buffer;
  }
  function bufferToB64url(buffer) {
    var bytes = new Uint8Array(buffer), raw = "";
    for (var i = 0; i < bytes.length; i++) { raw += String.fromCharCode(bytes[i]); }
    return btoa(raw).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }
  function decodeOptions(options, kind) {
    var o = options.publicKey || options;
    o.challenge = b64urlToBuffer(o.challenge);
    if (kind === "create" && o.user) { o.user.id = b64urlToBuffer(o.user.id); }
    ["allowCredentials", "excludeCredentials"].forEach(function (key) {
      (o[key] || []).forEach(function (c) { c.id = b64urlToBuffer(c.id); });
    });
    return o;
  }
  function encodeCredential(cred) {
    var r = cred.response, out = {
      id: cred.id, rawId: bufferToB64url(cred.rawId), type: cred.type,
      clientExtensionResults: cred.getClientExtensionResults ? cred.getClientExtensionResults() : {},
      response: { clientDataJSON: bufferToB64url(r.clientDataJSON) }
    };
    if (r.attestationObject) {
      out.response.attestationObject = bufferToB64url(r.attestationObject);
      if (r.getTransports) { out.response.transports = r.getTransports(); }
    }
    if (r.authenticatorData) {
      out.response.authenticatorData = bufferToB64url(r.authenticatorData);
      out.response.signature = bufferToB64url(r.signature);
      out.response.userHandle = r.userHandle ? bufferToB64url(r.userHandle) : null;
    }
    if (cred.authenticatorAttachment) { out.authenticatorAttachment = cred.authenticatorAttachment; }
    return out;
  }
  function csrf(form) {
    var field = form.querySelector("input[name=csrf_token]");
    return field ? field.value : "";
  }
  function run(form, status) {
    var kind = form.getAttribute("data-webauthn");
    status.textContent = "Follow your browser's prompt to use your security key.";
    fetch(form.getAttribute("data-options"), {
      method: "POST", credentials: "same-origin", headers: { "X-CSRF-Token": csrf(form), "Accept": "application/json" }
    }).then(function (response) {
      return response.json().then(function (body) {
        if (!response.ok) { throw new Error((body.error && body.error.message) || "The registry refused."); }
        return body;
      });
    }).then(function (options) {
      var publicKey = decodeOptions(options, kind);
      return kind === "create" ? navigator.credentials.create({ publicKey: publicKey })
                               : navigator.credentials.get({ publicKey: publicKey });
    }).then(function (credential) {
      form.querySelector("input[name=credential]").value = JSON.stringify(encodeCredential(credential));
      form.setAttribute("data-webauthn-done", "1");
      form.submit();
    }).catch(function (error) {
      status.textContent = "The security key was not used: " + error.message;
    });
  }
  document.addEventListener("DOMContentLoaded", function () {
    var forms = document.querySelectorAll("form[data-webauthn]");
    for (var i = 0; i < forms.length; i++) {
      (function (form) {
        var status = form.querySelector(".webauthn-status") || document.createElement("p");
        form.hidden = false;
        if (!window.PublicKeyCredential) {
          status.textContent = "This browser cannot use security keys.";
          form.querySelector("button").disabled = true;
          return;
        }
        form.addEventListener("submit", function (event) {
          if (form.getAttribute("data-webauthn-done")) { return; }
          event.preventDefault();
          run(form, status);
        });
      })(forms[i]);
    }
  });
})();
