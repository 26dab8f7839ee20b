// The API-key sign-in dialog every page shares (the map wall, the operator's screen, the planner).
// Each page has the same <dialog id="signin"> markup; this module owns its behaviour so the pages
// do not each carry a copy: show it with a reason, keep it up while there is no key, store the key
// and hand control back to the page (`onKey`), and forget a key the server rejected.

import { getKey, setKey } from "./api.js";
import { t } from "./i18n.js";

const $ = (id) => document.getElementById(id);

// Reasons that are the user's problem to fix (drawn as a warning), and their default messages.
const WARN = new Set(["rejected", "role"]);
const DEFAULT_MESSAGES = { rejected: "auth.rejected", missing: "auth.missing", role: "auth.rejected" };

/**
 * Wire the page's sign-in dialog.
 *
 * @param {object} opts
 * @param {() => void} opts.onKey  called after a key was entered (the page reloads its data)
 * @param {Record<string, string>} [opts.messages]  i18n keys per reason, overriding the defaults
 *   (a page that needs a particular role says so for reason "role")
 * @returns {{show: (reason: string|null) => void, render: () => void, rejected: () => void,
 *            wrongRole: () => void}}
 */
export function wireSignIn({ onKey, messages = {} }) {
  const dlg = $("signin");
  const texts = { ...DEFAULT_MESSAGES, ...messages };
  let reason = null;

  function render() {
    const el = $("signin-reason");
    el.hidden = !reason;
    el.textContent = reason ? t(texts[reason] || texts.missing) : "";
    el.classList.toggle("signin__reason--warn", WARN.has(reason));
  }

  function show(why) {
    reason = why;
    render();
    $("signin-error").hidden = true;
    $("signin-key").value = "";
    if (!dlg.open) dlg.showModal();
    $("signin-key").focus();
  }

  $("signin-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const key = $("signin-key").value.trim();
    if (!key) {
      $("signin-error").textContent = t("auth.empty");
      $("signin-error").hidden = false;
      $("signin-key").focus();
      return;
    }
    setKey(key);
    $("signin-key").value = "";
    dlg.close();
    onKey();
  });
  // Without a key there is nothing to show: keep the dialog up.
  dlg.addEventListener("cancel", (ev) => {
    if (!getKey()) ev.preventDefault();
  });
  // Browsers may force-close a modal on repeated Escape; reopen it if we still have no key.
  dlg.addEventListener("close", () => {
    if (!getKey()) queueMicrotask(() => show(reason || "missing"));
  });
  $("signin-open")?.addEventListener("click", () => show(null));

  return {
    show,
    render,
    /** The server said 401: forget the key and ask again. */
    rejected() {
      setKey("");
      show("rejected");
    },
    /** The key is valid but its role cannot use this page. */
    wrongRole() {
      setKey("");
      show("role");
    },
  };
}
