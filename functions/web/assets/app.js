// sspr's pages: each form calls the JSON API with fetch and moves to the next
// step. Nothing is stored in the browser; a reset, gate or access token lives
// in this script's memory only, for as long as the page is open (never in the
// address, web storage or a cookie). The server is the judge of every rule:
// the live hints only help.
(function () {
  "use strict";
  var words = JSON.parse(document.getElementById("words").textContent);
  var body = document.body;
  var min = Number(body.dataset.min), max = Number(body.dataset.max);
  var status = document.getElementById("status");
  var alertBox = document.getElementById("alert");
  var lang = document.documentElement.lang;
  var state = { user: "", resetToken: "", gateToken: "", gateUntil: 0, accessToken: "", methodId: "" };

  function $(id) { return document.getElementById(id); }
  function field(form, name) { return form.elements.namedItem(name); }

  function clear() {
    [status, alertBox].forEach(function (el) { el.textContent = ""; el.removeAttribute("data-key"); });
  }
  function say(el, key, reasons) {
    clear();
    el.dataset.key = key;
    el.textContent = words[key] || words.unavailable;
    if (reasons && reasons.length) {
      var ul = document.createElement("ul");
      ul.id = "reasons";
      reasons.forEach(function (r) {
        var li = document.createElement("li");
        li.dataset.reason = r;
        li.textContent = words[r] || r;
        ul.appendChild(li);
      });
      el.appendChild(ul);
    }
  }
  // Show one step, hide the others, and put the focus where typing goes next.
  function show(id, steps) {
    steps.forEach(function (s) { var el = $(s); if (el) { el.hidden = s !== id; } });
    focusIn($(id));
  }
  function visible(el) { return !el.closest("[hidden]"); }
  // The first empty text field, else the chosen option, else the first control.
  function focusIn(el) {
    if (!el) { return; }
    var all = Array.prototype.filter.call(el.querySelectorAll("input, a, button"), visible);
    var next = all.find(function (i) { return i.tagName === "INPUT" && i.type !== "radio" && !i.value; })
      || all.find(function (i) { return i.type === "radio" && i.checked; })
      || all[0];
    if (next) { next.focus(); }
  }
  // A form's parts that name a kind of proof (`data-kind="email phone"`): only
  // those of `kind` show. Its code field takes that kind: a recovery code has
  // letters and dashes, an authenticator's code 6 digits, a sent one the
  // configured length.
  function kind(form, k) {
    form.dataset.kind = k;
    Array.prototype.forEach.call(form.querySelectorAll("[data-kind]"), function (el) {
      el.hidden = el.dataset.kind.split(" ").indexOf(k) < 0;
    });
    var c = field(form, "code");
    if (!c) { return; }
    var rc = k === "recovery_code";
    c.inputMode = rc ? "text" : "numeric";
    c.maxLength = rc ? 24 : (k === "totp" ? 6 : Number(c.dataset.len));
    c.autocomplete = rc ? "off" : "one-time-code";
  }
  function chosen(form) {
    var c = form.querySelector('input[name="method"]:checked');
    return c ? c.value : "email";
  }
  // A proof the person has at hand, not a code that is sent.
  function held(k) { return k === "totp" || k === "recovery_code"; }
  function each(list, fn) { Array.prototype.forEach.call(list, fn); }

  function api(method, path, data, token) {
    var headers = { "Accept": "application/json", "Accept-Language": lang };
    if (data) { headers["Content-Type"] = "application/json"; }
    if (token) { headers.Authorization = "Bearer " + token; }
    return fetch(path, {
      method: method, headers: headers, credentials: "omit", cache: "no-store",
      body: data ? JSON.stringify(data) : undefined
    }).then(function (r) {
      return r.text().then(function (t) {
        var json = {};
        try { json = t ? JSON.parse(t) : {}; } catch (e) { json = {}; }
        return { status: r.status, ok: r.ok, json: json };
      });
    }, function () { return { status: 0, ok: false, json: { code: "offline" } }; });
  }
  // The human check's token, when the page carries the widget; the widget is
  // reset after each use (a token works once).
  function captcha(form, data) {
    var t = form.querySelector('[name="cf-turnstile-response"], [name="h-captcha-response"]');
    if (t) { data.captcha = t.value; }
    return data;
  }
  function freshCaptcha() {
    if (window.turnstile) { window.turnstile.reset(); }
    if (window.hcaptcha) { window.hcaptcha.reset(); }
  }
  function problem(r) {
    var code = (r.json && r.json.code) || "unavailable";
    say(alertBox, words[code] ? code : "unavailable", code === "weak_password" ? r.json.reasons : null);
  }

  // One handler per form; the button is disabled while its request is out.
  function on(id, handler) {
    var form = $(id);
    if (!form) { return; }
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      var button = form.querySelector("button[type=submit]");
      button.disabled = true;
      Promise.resolve(handler(form)).then(function () { button.disabled = false; });
    });
  }

  // The hints beside a new password, as it is typed.
  function live(input, userInput, emailInput) {
    var list = $("live");
    if (!input || !list) { return; }
    function rule(name, ok) {
      var li = list.querySelector('[data-rule="' + name + '"]');
      if (li) { li.dataset.ok = ok ? "true" : "false"; }
    }
    function check() {
      var pw = input.value.normalize("NFKC");
      var n = Array.from(pw).length;
      var lower = pw.toLowerCase();
      var user = (userInput ? userInput.value : state.user).trim().toLowerCase();
      var local = emailInput ? emailInput.value.split("@")[0].trim().toLowerCase() : "";
      rule("length", n >= min && n <= max);
      rule("username", !user || lower.indexOf(user) < 0);
      rule("email", local.length < 3 || lower.indexOf(local) < 0);
    }
    [input, userInput, emailInput].forEach(function (i) { if (i) { i.addEventListener("input", check); } });
    check();
  }

  // A code mail's link: `#u=<username>&c=<code>`. Fill the form in, take the
  // code out of the address bar and the history, and spend nothing.
  function fromLink(formId) {
    var hash = location.hash.replace(/^#/, "");
    if (!hash) { return false; }
    var p = new URLSearchParams(hash);
    history.replaceState(null, "", location.pathname + location.search);
    var u = p.get("u"), c = p.get("c");
    if (!u || !c) { return false; }
    var form = $(formId);
    field(form, "username").value = u;
    field(form, "code").value = c;
    return true;
  }

  // A language chosen with ?lang= stays chosen on the way to the other pages.
  if (/[?&]lang=/.test(location.search)) {
    Array.prototype.forEach.call(document.querySelectorAll("main a[href^='/']"), function (a) {
      a.href = a.getAttribute("href") + (a.getAttribute("href").indexOf("?") < 0 ? "?" : "&") + "lang=" + lang;
    });
  }

  var page = body.dataset.page;
  if (page === "reset") {
    var steps = ["ask", "prove", "gate", "second", "set", "done"];
    var ask = $("ask"), prove = $("prove"), gate = $("gate"), second = $("second");
    // The first proof: a code sent by email or SMS, or one the person holds.
    ask.addEventListener("change", function () { kind(ask, chosen(ask)); });
    kind(ask, chosen(ask));
    on("ask", function (form) {
      var user = field(form, "username").value.trim();
      var way = chosen(form);
      field(prove, "username").value = user;
      kind(prove, way);
      if (held(way)) {
        clear();
        show("prove", steps);
        return;
      }
      var data = captcha(form, { username: user, purpose: "reset_password" });
      if (way === "phone") { data.channel = "sms"; }
      return api("POST", "/v1/codes", data).then(function (r) {
        freshCaptcha();
        if (r.status !== 202) { return problem(r); }
        say(status, "code_sent");
        show("prove", steps);
      });
    });
    // A proof's answer: the reset token, or with two gates the gate token
    // and the proofs the second gate can take.
    var proved = function (r) {
      if (!r.ok) { return problem(r); }
      if (r.json.gate_token) {
        state.gateToken = r.json.gate_token;
        state.gateUntil = Date.now() + 1000 * (Number(r.json.expires_in) || 300);
        var next = r.json.next || [], first = null;
        each(gate.querySelectorAll("[data-method]"), function (el) {
          var offered = next.indexOf(el.dataset.method) >= 0;
          var radio = el.querySelector("input");
          el.hidden = !offered;
          radio.checked = false;
          if (offered && !first) { first = radio; }
        });
        if (first) { first.checked = true; }
        say(status, "gate_next");
        show("gate", steps);
        return;
      }
      state.gateToken = "";
      state.resetToken = r.json.reset_token;
      clear();
      show("set", steps);
    };
    on("prove", function (form) {
      var user = field(form, "username").value.trim();
      var data = { username: user, code: field(form, "code").value.trim() };
      if (held(form.dataset.kind)) { data.method = form.dataset.kind; }
      return api("POST", "/v1/password/verify", data).then(function (r) {
        if (r.ok) { state.user = user; }
        proved(r);
      });
    });
    // A lapsed gate token fails like a wrong code (and asks for a code
    // that never comes): say so, and start over.
    var lapsed = function () {
      if (Date.now() < state.gateUntil) { return false; }
      state.gateToken = "";
      say(alertBox, "invalid_token");
      show("ask", steps);
      return true;
    };
    on("gate", function (form) {
      if (lapsed()) { return; }
      var way = chosen(form);
      kind(second, way);
      field(second, "code").value = "";
      if (held(way)) {
        clear();
        show("second", steps);
        return;
      }
      var data = captcha(form, { gate_token: state.gateToken, channel: way === "phone" ? "sms" : "email" });
      return api("POST", "/v1/codes", data).then(function (r) {
        freshCaptcha();
        if (r.status !== 202) { return problem(r); }
        say(status, "code_sent");
        show("second", steps);
      });
    });
    on("second", function (form) {
      if (lapsed()) { return; }
      var data = { gate_token: state.gateToken, method: form.dataset.kind, code: field(form, "code").value.trim() };
      return api("POST", "/v1/password/verify", data).then(proved);
    });
    on("set", function (form) {
      var pw = field(form, "new_password").value;
      return api("POST", "/v1/password/reset", { reset_token: state.resetToken, new_password: pw }).then(function (r) {
        if (r.status !== 204) {
          problem(r);
          if (r.json.code === "invalid_token") { show("ask", steps); }
          return;
        }
        state.resetToken = "";
        field(form, "new_password").value = "";
        say(status, "password_reset");
        show("done", steps);
      });
    });
    live(field($("set"), "new_password"), null, null);
    if (fromLink("prove")) { kind(prove, "email"); show("prove", steps); }
  }

  if (page === "register") {
    var rsteps = ["signup", "confirm", "done"];
    var signup = $("signup");
    on("signup", function (form) {
      var user = field(form, "username").value.trim();
      var data = captcha(form, { username: user, email: field(form, "email").value.trim(), password: field(form, "password").value, locale: lang });
      return api("POST", "/v1/register", data).then(function (r) {
        freshCaptcha();
        if (r.status !== 201) { return problem(r); }
        field(form, "password").value = "";
        field($("confirm"), "username").value = r.json.username || user;
        say(status, "registered");
        show("confirm", rsteps);
      });
    });
    on("confirm", function (form) {
      var data = { username: field(form, "username").value.trim(), code: field(form, "code").value.trim() };
      return api("POST", "/v1/register/confirm", data).then(function (r) {
        if (!r.ok) { return problem(r); }
        say(status, "email_confirmed");
        show("done", rsteps);
      });
    });
    live(field(signup, "password"), field(signup, "username"), field(signup, "email"));
    if (fromLink("confirm")) { show("confirm", rsteps); }
  }

  if (page === "account") {
    var signin = $("signin"), factor = $("factor"), inside = $("signed-in");
    var confirmForm = $("method-confirm"), list = $("method-list"), codes = $("codes");
    var enter = function () {
      signin.hidden = true;
      factor.hidden = true;
      inside.hidden = false;
      field($("change"), "current_password").focus();
    };
    var leave = function (key, box) {
      state.accessToken = "";
      state.methodId = "";
      inside.hidden = true;
      factor.hidden = true;
      factor.reset();
      // Nothing of the session stays on the page: no key, no codes.
      confirmForm.hidden = true;
      confirmForm.reset();
      $("totp-setup").hidden = true;
      $("totp-secret").textContent = "";
      $("totp-link").href = "/account";
      codes.hidden = true;
      $("codes-list").textContent = "";
      list.textContent = "";
      signin.hidden = false;
      field(signin, "password").value = "";
      say(box || status, key);
      field(signin, field(signin, "username").value ? "password" : "username").focus();
    };
    // An answer refused while signed in: a lapsed session or one too old for
    // a change of methods or of the email means signing in again; anything
    // else is shown.
    var refused = function (r) {
      var code = r.json && r.json.code;
      if (code === "reauthentication_required") { return leave(code, alertBox); }
      if (code === "invalid_token") { return leave("signed_out"); }
      problem(r);
    };

    // The second factor: the authenticator's code, or a recovery code instead.
    var useRecovery = function (rc) {
      $("factor-otp").hidden = rc;
      $("factor-rc").hidden = !rc;
      kind(factor, rc ? "recovery_code" : "otp");
      field(factor, rc ? "otp" : "recovery_code").value = "";
      field(factor, rc ? "recovery_code" : "otp").focus();
    };
    $("factor-switch").addEventListener("click", function () { useRecovery($("factor-rc").hidden); });
    var signIn = function (second) {
      var user = field(signin, "username").value.trim();
      var data = { username: user, password: field(signin, "password").value };
      if (second) { data[second[0]] = second[1]; }
      return api("POST", "/v1/token", data).then(function (r) {
        if (r.status === 401 && r.json.code === "second_factor_required") {
          // The password was right: it waits in its hidden field for the second step.
          say(status, "second_factor_required");
          signin.hidden = true;
          factor.hidden = false;
          useRecovery(false);
          return;
        }
        if (!r.ok) {
          if (second && r.json.code === "invalid_credentials") { return say(alertBox, "invalid_otp"); }
          return problem(r);
        }
        state.accessToken = r.json.access_token;
        state.user = user;
        field(signin, "password").value = "";
        factor.reset();
        return api("GET", "/v1/me", null, state.accessToken).then(function (me) {
          if (!me.ok) { return problem(me); }
          $("who").textContent = me.json.username;
          $("who-email").textContent = me.json.email;
          say(status, "signed_in");
          enter();
          return methods();
        });
      });
    };
    on("signin", function () { return signIn(null); });
    on("factor", function (form) {
      var rc = !$("factor-rc").hidden;
      var name = rc ? "recovery_code" : "otp";
      return signIn([name, field(form, name).value.trim()]);
    });

    // The recovery methods: the list, what is still needed, and the prompt
    // to reconfirm them.
    var words1 = function (key, n) { return (words[key] || "").replace("{n}", String(n)); };
    var methods = function () {
      return api("GET", "/v1/me/methods", null, state.accessToken).then(function (r) {
        if (!r.ok) { return refused(r); }
        list.textContent = "";
        (r.json.methods || []).forEach(function (m) {
          var li = document.createElement("li");
          li.dataset.id = m.id;
          li.dataset.type = m.type;
          li.dataset.confirmed = m.confirmed ? "true" : "false";
          var name = document.createElement("strong");
          name.id = "m-" + m.id;
          name.textContent = words["kind_" + m.type] || m.type;
          li.appendChild(name);
          // Addresses and numbers come masked; the other labels are the
          // API's English, so only their number is shown.
          var label = m.label || "";
          if (m.type === "recovery_codes") {
            var n = /^\d+/.exec(label);
            label = n ? words1("codes_left", n[0]) : "";
          } else if (m.type === "totp") {
            label = "";
          }
          if (label) {
            var span = document.createElement("span");
            span.className = "label";
            span.textContent = label;
            li.appendChild(span);
          }
          var st = document.createElement("span");
          st.className = "state";
          st.textContent = words[m.confirmed ? "confirmed" : "pending"];
          li.appendChild(st);
          var act = function (key, what) {
            var b = document.createElement("button");
            b.type = "button";
            b.className = "quiet";
            b.dataset[what] = m.id;
            b.setAttribute("aria-describedby", name.id);
            b.textContent = words[key];
            li.appendChild(b);
          };
          if (!m.confirmed && m.type !== "recovery_codes") { act("enter_code", "confirm"); }
          if (m.id !== "primary") { act("remove", "remove"); }
          list.appendChild(li);
        });
        var needed = $("methods-needed");
        needed.hidden = !(r.json.methods_needed > 0);
        needed.textContent = needed.hidden ? "" : words1("methods_needed", r.json.methods_needed);
        $("reconfirm").hidden = !r.json.reconfirm_due;
      });
    };
    // The form that finishes adding a method with its first code.
    var confirming = function (id, type, totp) {
      state.methodId = id;
      kind(confirmForm, type === "totp" ? "totp" : type);
      field(confirmForm, "code").value = "";
      $("totp-setup").hidden = !totp;
      if (totp) {
        // Four at a time, as people copy it; apps take the spaces.
        $("totp-secret").textContent = totp.secret.replace(/(.{4})(?=.)/g, "$1 ");
        $("totp-link").href = totp.otpauth_uri;
      }
      confirmForm.hidden = false;
      field(confirmForm, "code").focus();
    };
    list.addEventListener("click", function (ev) {
      var b = ev.target.closest("button");
      if (!b) { return; }
      var li = b.closest("li");
      if (b.dataset.confirm) { clear(); confirming(b.dataset.confirm, li.dataset.type, null); return; }
      if (!b.dataset.remove) { return; }
      b.disabled = true;
      api("DELETE", "/v1/me/methods/" + encodeURIComponent(b.dataset.remove), null, state.accessToken).then(function (r) {
        b.disabled = false;
        if (r.status === 404) { say(alertBox, "not_found"); return methods(); }
        if (r.status !== 204) { return refused(r); }
        if (state.methodId === b.dataset.remove) { confirmForm.hidden = true; }
        say(status, "method_removed");
        return methods();
      });
    });
    var add = function (form, body, sent) {
      return api("POST", "/v1/me/methods", body, state.accessToken).then(function (r) {
        if (r.status !== 201) {
          // A phone refused for no fault of its number: this deployment sends no SMS.
          if (body.type === "phone" && r.json.code === "invalid_request") { return say(alertBox, "sms_off"); }
          return refused(r);
        }
        form.reset();
        say(status, sent);
        confirming(r.json.id, body.type, body.type === "totp" ? r.json : null);
        return methods();
      });
    };
    on("add-totp", function (form) { return add(form, { type: "totp" }, "totp_added"); });
    on("add-phone", function (form) {
      return add(form, { type: "phone", phone: field(form, "phone").value.replace(/[\s()-]/g, "") }, "method_code_sent");
    });
    on("add-email", function (form) {
      return add(form, { type: "email", email: field(form, "email").value.trim() }, "method_code_sent");
    });
    on("method-confirm", function (form) {
      var path = "/v1/me/methods/" + encodeURIComponent(state.methodId) + "/confirm";
      return api("POST", path, { code: field(form, "code").value.trim() }, state.accessToken).then(function (r) {
        if (!r.ok) { return refused(r); }
        state.methodId = "";
        form.hidden = true;
        $("totp-setup").hidden = true;
        $("totp-secret").textContent = "";
        $("totp-link").href = "/account";
        say(status, "method_confirmed");
        return methods();
      });
    });
    on("recovery", function () {
      return api("POST", "/v1/me/recovery-codes", {}, state.accessToken).then(function (r) {
        if (r.status !== 201) { return refused(r); }
        var ol = $("codes-list");
        ol.textContent = "";
        (r.json.codes || []).forEach(function (c) {
          var li = document.createElement("li");
          li.textContent = c;
          ol.appendChild(li);
        });
        say(status, "codes_made");
        codes.hidden = false;
        codes.focus();
        return methods();
      });
    });
    // Shown once: gone from the page as soon as the person has them.
    $("codes-saved").addEventListener("click", function () {
      $("codes-list").textContent = "";
      codes.hidden = true;
      $("recovery").querySelector("button").focus();
    });
    on("reconfirm", function () {
      return api("POST", "/v1/me/methods/reconfirm", {}, state.accessToken).then(function (r) {
        if (!r.ok) { return refused(r); }
        say(status, "reconfirmed");
        return methods();
      });
    });
    on("change", function (form) {
      var data = { current_password: field(form, "current_password").value, new_password: field(form, "new_password").value };
      return api("POST", "/v1/password/change", data, state.accessToken).then(function (r) {
        if (r.status !== 204) {
          problem(r);
          if (r.json.code === "invalid_token") { leave("signed_out"); }
          return;
        }
        form.reset();
        // A change ends every session, this one too.
        leave("password_changed");
      });
    });
    on("email", function (form) {
      return api("PUT", "/v1/me/email", { email: field(form, "email").value.trim() }, state.accessToken).then(function (r) {
        if (r.status !== 202) { return refused(r); }
        form.reset();
        say(status, "email_code_sent");
      });
    });
    $("signout").addEventListener("click", function () { leave("signed_out"); });
    live(field($("change"), "new_password"), null, null);
  }
}());
