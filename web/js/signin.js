// The sign-in dialog every page shares: a person's name and password (POST /api/v1/auth/token), or on the
// map wall the one-time pairing code of an unattended screen (POST /api/v1/auth/kiosk). This module builds
// the dialog itself (pages carry no copy of its markup), keeps it up while nobody is signed in, stores the
// sign-in (web/js/api.js) and hands control back to the page (`onKey`). No page asks a person for an API key.

import { ApiError, getKey, pairKiosk, setKey, signIn } from "./api.js";
import { LANGS, getLang, onLangChange, setLang, t, translateDom } from "./i18n.js";
import { describeError, h } from "./ui.js";

// Reasons that are the user's problem to fix (drawn as a warning), and their default messages.
const WARN = new Set(["rejected", "role"]);
const DEFAULT_MESSAGES = { rejected: "auth.rejected", missing: "auth.missing", role: "auth.wrongRole",
  ended: "auth.ended" };
const LANG_LABELS = { "zh-CN": "中文", en: "English" };

function buildDialog({ kiosk }) {
  document.getElementById("signin")?.remove(); // an old page's static copy
  const langs = h("div", { class: "lang-switch lang-switch--light", role: "group", "data-i18n-attr": "aria-label:lang.switch" },
    LANGS.map((l) => h("button", { type: "button", class: "lang-switch__btn", "data-signin-lang": l, lang: l,
      text: LANG_LABELS[l] || l })));
  const field = (id, key, attrs) => [
    h("label", { class: "signin__label", for: id, "data-i18n": key }),
    h("input", { class: "signin__input", id, ...attrs }),
  ];
  const dlg = h("dialog", { class: "signin", id: "signin", "aria-labelledby": "signin-title" },
    h("form", { class: "signin__form", id: "signin-form", method: "dialog", novalidate: true },
      h("div", { class: "signin__top" },
        h("h2", { class: "signin__title", id: "signin-title", "data-i18n": "auth.title" }), langs),
      h("p", { class: "signin__lead", id: "signin-lead", "data-i18n": "auth.leadPassword" }),
      h("p", { class: "signin__reason", id: "signin-reason", hidden: true }),
      h("div", { class: "signin__fields", id: "signin-person" },
        ...field("signin-username", "auth.username", { name: "username", autocomplete: "username",
          autocapitalize: "none", spellcheck: "false", maxlength: 64 }),
        ...field("signin-password", "auth.password", { name: "password", type: "password",
          autocomplete: "current-password", maxlength: 256 })),
      h("div", { class: "signin__fields", id: "signin-kiosk", hidden: true },
        ...field("signin-code", "auth.pairingCode", { name: "code", autocomplete: "off", autocapitalize: "characters",
          spellcheck: "false", maxlength: 32 }),
        h("p", { class: "signin__hint", "data-i18n": "auth.pairingHint" })),
      h("p", { class: "signin__error", id: "signin-error", role: "alert", hidden: true }),
      h("div", { class: "signin__actions" },
        kiosk ? h("button", { type: "button", class: "btn btn--link", id: "signin-mode", "data-i18n": "auth.pairThis" }) : null,
        h("button", { type: "submit", class: "btn btn--primary", id: "signin-submit", "data-i18n": "auth.submit" })),
      h("p", { class: "signin__hint", "data-i18n-html": "auth.hintPassword" })));
  document.body.append(dlg);
  translateDom(dlg);
  return dlg;
}

/**
 * Wire the page's sign-in dialog.
 *
 * @param {object} opts
 * @param {() => void} opts.onKey  called after a sign-in (the page reloads its data)
 * @param {Record<string, string>} [opts.messages]  i18n keys per reason, overriding the defaults
 *   (a page that needs a particular role says so for reason "role")
 * @param {boolean} [opts.kiosk]  offer "pair this screen" (the map wall)
 * @returns {{show: (reason: string|null) => void, render: () => void, rejected: () => void,
 *            wrongRole: () => void}}
 */
export function wireSignIn({ onKey, messages = {}, kiosk = false }) {
  const dlg = buildDialog({ kiosk });
  const $ = (id) => dlg.querySelector(`#${id}`);
  const texts = { ...DEFAULT_MESSAGES, ...messages };
  let reason = null;
  let pairing = false;

  function render() {
    translateDom(dlg);
    const el = $("signin-reason");
    el.hidden = !reason;
    el.textContent = reason ? t(texts[reason] || texts.missing) : "";
    el.classList.toggle("signin__reason--warn", WARN.has(reason));
    $("signin-person").hidden = pairing;
    $("signin-kiosk").hidden = !pairing;
    $("signin-lead").textContent = t(pairing ? "auth.leadKiosk" : "auth.leadPassword");
    if ($("signin-mode")) $("signin-mode").textContent = t(pairing ? "auth.usePassword" : "auth.pairThis");
    for (const b of dlg.querySelectorAll("[data-signin-lang]")) {
      b.setAttribute("aria-pressed", b.dataset.signinLang === getLang() ? "true" : "false");
    }
  }

  function focusFirst() {
    (pairing ? $("signin-code") : $("signin-username").value ? $("signin-password") : $("signin-username")).focus();
  }

  function show(why) {
    reason = why;
    render();
    $("signin-error").hidden = true;
    $("signin-password").value = "";
    $("signin-code").value = "";
    if (!dlg.open) dlg.showModal();
    focusFirst();
  }

  function fail(msg) {
    $("signin-error").textContent = msg;
    $("signin-error").hidden = false;
    focusFirst();
  }

  $("signin-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const submit = $("signin-submit");
    const username = $("signin-username").value.trim().toLowerCase();
    const password = $("signin-password").value;
    const code = $("signin-code").value.trim();
    if (pairing ? !code : !username || !password) { fail(t(pairing ? "auth.emptyCode" : "auth.empty")); return; }
    submit.disabled = true;
    try {
      if (pairing) await pairKiosk(code);
      else await signIn(username, password);
    } catch (err) {
      const wrong = err instanceof ApiError && (err.status === 401 || err.status === 422);
      fail(wrong ? t(pairing ? "auth.badCode" : err.code === "account_locked" ? "auth.locked" : "auth.badPassword")
        : describeError(err));
      return;
    } finally {
      submit.disabled = false;
    }
    $("signin-password").value = "";
    $("signin-code").value = "";
    reason = null;
    dlg.close();
    onKey();
  });
  $("signin-mode")?.addEventListener("click", () => { pairing = !pairing; render(); focusFirst(); });
  for (const b of dlg.querySelectorAll("[data-signin-lang]")) {
    b.addEventListener("click", () => setLang(b.dataset.signinLang));
  }
  onLangChange(render);
  // Nobody signed in: there is nothing to show, keep the dialog up.
  dlg.addEventListener("cancel", (ev) => {
    if (!getKey()) ev.preventDefault();
  });
  // Browsers may force-close a modal on repeated Escape; reopen it if still nobody is signed in.
  dlg.addEventListener("close", () => {
    if (!getKey()) queueMicrotask(() => show(reason || "missing"));
  });
  document.getElementById("signin-open")?.addEventListener("click", () => show(null));

  return {
    show,
    render,
    /** The server said 401: forget the sign-in and ask again. */
    rejected() {
      setKey("");
      show("rejected");
    },
    /** Signed in, but this role cannot use this page. */
    wrongRole() {
      setKey("");
      show("role");
    },
  };
}
