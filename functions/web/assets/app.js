// sspr's pages: each form calls the JSON API with fetch and moves to the next
// step. Nothing is stored in the browser; a reset or access token lives in
// this script's memory only, for as long as the page is open. The server is
// the judge of every rule: the live hints only help.
(function () {
  "use strict";
  var words = JSON.parse(document.getElementById("words").textContent);
  var body = document.body;
  var min = Number(body.dataset.min), max = Number(body.dataset.max);
  var status = document.getElementById("status");
  var alertBox = document.getElementById("alert");
  var lang = document.documentElement.lang;
  var state = { user: "", resetToken: "", accessToken: "" };

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
    var el = $(id);
    if (!el) { return; }
    var next = Array.prototype.find.call(el.querySelectorAll("input"), function (i) { return !i.value; })
      || el.querySelector("input, a, button");
    if (next) { next.focus(); }
  }

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
    var steps = ["ask", "prove", "set", "done"];
    on("ask", function (form) {
      var user = field(form, "username").value.trim();
      var data = captcha(form, { username: user, purpose: "reset_password" });
      return api("POST", "/v1/codes", data).then(function (r) {
        freshCaptcha();
        if (r.status !== 202) { return problem(r); }
        field($("prove"), "username").value = user;
        say(status, "code_sent");
        show("prove", steps);
      });
    });
    on("prove", function (form) {
      var user = field(form, "username").value.trim();
      var code = field(form, "code").value.trim();
      return api("POST", "/v1/password/verify", { username: user, code: code }).then(function (r) {
        if (!r.ok) { return problem(r); }
        state.user = user;
        state.resetToken = r.json.reset_token;
        clear();
        show("set", steps);
      });
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
    if (fromLink("prove")) { show("prove", steps); }
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
    var signin = $("signin"), inside = $("signed-in");
    var enter = function () {
      signin.hidden = true;
      inside.hidden = false;
      field($("change"), "current_password").focus();
    };
    var leave = function (key) {
      state.accessToken = "";
      inside.hidden = true;
      signin.hidden = false;
      field(signin, "password").value = "";
      say(status, key);
      field(signin, field(signin, "username").value ? "password" : "username").focus();
    };
    on("signin", function (form) {
      var user = field(form, "username").value.trim();
      var data = { username: user, password: field(form, "password").value };
      return api("POST", "/v1/token", data).then(function (r) {
        if (!r.ok) { return problem(r); }
        state.accessToken = r.json.access_token;
        state.user = user;
        field(form, "password").value = "";
        return api("GET", "/v1/me", null, state.accessToken).then(function (me) {
          if (!me.ok) { return problem(me); }
          $("who").textContent = me.json.username;
          $("who-email").textContent = me.json.email;
          say(status, "signed_in");
          enter();
        });
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
        if (r.status !== 202) { return problem(r); }
        form.reset();
        say(status, "email_code_sent");
      });
    });
    $("signout").addEventListener("click", function () { leave("signed_out"); });
    live(field($("change"), "new_password"), null, null);
  }
}());
