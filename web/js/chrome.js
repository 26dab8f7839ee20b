// The page chrome every screen shares: the top bar (brand, page title, links to the other screens, the page's
// own tools, the language switch, who is signed in and "sign out") and the sign-in dialog (web/js/signin.js).
//
// One mount point per page: `<header id="chrome" class="topbar" data-title="i18n.key">…page tools…</header>`.
// The page's own children (tabs, badges, counters) stay, between the title and the tools on the right.
// A page with a bar of its own (the worker's phone bar) uses `data-chrome="user"`: only who is signed in and
// "sign out" are rendered into it. The bar shows the person's name, their grid's name and role, never a key.

import { ApiError, apiGet, getKey, isKiosk, signOut } from "./api.js";
import { LANGS, featureName, getLang, onLangChange, setLang, t, translateDom } from "./i18n.js";
import { wireSignIn } from "./signin.js";
import { h, tOr } from "./ui.js";

const LANG_LABELS = { "zh-CN": "中文", en: "English" };
/** The screens, in the order of the bar's links (access is the server's; a link the role cannot use says so). */
const PAGES = [
  { href: "/", key: "nav.wall" },
  { href: "/console.html", key: "nav.console" },
  { href: "/operator.html", key: "nav.operator" },
  { href: "/planner.html", key: "nav.planner" },
  { href: "/worker.html", key: "nav.worker" },
  { href: "/evaluation.html", key: "nav.evaluation" },
  { href: "/admin.html", key: "nav.admin" },
];

const LOGO = `<svg class="brand__logo" viewBox="0 0 32 32" aria-hidden="true" focusable="false"><rect width="32" height="32" rx="7" fill="#163a5c"/><path d="M6 6h9v9H6zM17 6h9v9h-9zM6 17h9v9H6z" fill="none" stroke="#57c3a8" stroke-width="2"/><path d="M17 17h9v9h-9z" fill="#57c3a8"/></svg>`;

function buildBar(root) {
  const own = [...root.childNodes];
  const brand = h("div", { class: "brand" });
  brand.innerHTML = LOGO;
  brand.append(h("h1", { class: "brand__name" }, h("span", { class: "brand__en", text: "gridmap" }),
    h("span", { class: "brand__dot", "aria-hidden": "true", text: "·" }),
    h("span", { "data-i18n": root.dataset.title || "app.title" })));
  const here = window.location.pathname === "/index.html" ? "/" : window.location.pathname;
  const nav = h("nav", { class: "chrome-nav", id: "chrome-nav", "data-i18n-attr": "aria-label:nav.label" },
    PAGES.map((p) => h("a", { class: "chrome-nav__link", href: p.href, "data-i18n": p.key,
      "aria-current": p.href === here ? "page" : null })));
  const slot = h("div", { class: "chrome-slot" }, own);
  const langs = h("div", { class: "lang-switch", role: "group", "data-i18n-attr": "aria-label:lang.switch" },
    LANGS.map((l) => h("button", { type: "button", class: "lang-switch__btn", "data-lang": l, lang: l,
      text: LANG_LABELS[l] || l })));
  const tools = h("div", { class: "topbar__tools chrome-tools" }, langs, h("div", { id: "chrome-user", class: "chrome-user" }));
  root.replaceChildren(brand, nav, slot, tools,
    h("div", { class: "progress", id: "progress", hidden: true }, h("div", { class: "progress__bar" })));
  for (const b of langs.querySelectorAll("[data-lang]")) b.addEventListener("click", () => setLang(b.dataset.lang));
  translateDom(root);
}

function renderUser(box, me, onSignOut, onSwitch) {
  if (!box) return;
  if (!me) { box.replaceChildren(); return; }
  const grid = featureName({ name: me.grid_name, name_en: me.grid_name_en });
  const who = h("span", { class: "chrome-user__who", "data-testid": "chrome-user" },
    h("strong", { class: "chrome-user__name", text: me.display_name || me.name }),
    grid ? h("span", { class: "chrome-user__grid", text: grid }) : null,
    h("span", { class: "chrome-user__role", text: tOr(`role.${me.role}`, me.role) }));
  const out = isKiosk() ? null : h("button", { type: "button", class: "btn btn--small chrome-user__out",
    id: "chrome-signout", text: t("auth.signOut"), onclick: onSignOut });
  // Another person takes the seat without signing this one out first (the new sign-in replaces it).
  const sw = isKiosk() ? null : h("button", { type: "button", class: "btn btn--small chrome-user__switch",
    id: "signin-open", text: t("auth.switchUser"), onclick: onSwitch });
  box.replaceChildren(who, ...[sw, out].filter(Boolean));
}

/**
 * Render the page's chrome and sign the person in.
 *
 * @param {object} opts
 * @param {(me: object) => void|Promise<void>} opts.onReady  called with `GET /auth/me` once someone is signed in
 *   (and again after a new sign-in)
 * @param {string} [opts.needs]  i18n key of the message shown when the role cannot use this page
 * @param {(me: object) => boolean} [opts.accept]  whether this principal can use the page (the server is the
 *   judge: pass a check of a probe request's answer, or leave unset)
 * @param {boolean} [opts.kiosk]  offer pairing a wall screen in the sign-in dialog
 * @returns {{signIn: object, me: () => object|null, unauthorized: () => void, start: () => Promise<void>}}
 */
export function mountChrome({ onReady, needs, accept, kiosk = false } = {}) {
  const root = document.getElementById("chrome");
  if (root && root.dataset.chrome !== "user") buildBar(root);
  const userBox = root?.dataset.chrome === "user" ? root : document.getElementById("chrome-user");
  let me = null;

  const signIn = wireSignIn({ onKey: start, kiosk, messages: needs ? { role: needs } : {} });

  async function doSignOut() {
    await signOut();
    me = null;
    renderUser(userBox, null);
    window.location.reload();
  }

  function paintLang() {
    for (const b of document.querySelectorAll("#chrome .lang-switch__btn")) {
      b.setAttribute("aria-pressed", b.dataset.lang === getLang() ? "true" : "false");
    }
    renderUser(userBox, me, doSignOut, () => signIn.show(null));
  }
  onLangChange(paintLang);

  async function start() {
    if (!getKey()) { signIn.show("missing"); return; }
    try {
      me = await apiGet("auth/me");
    } catch (err) {
      if (err instanceof ApiError && err.isUnauthorized) { signIn.rejected(); return; }
      throw err;
    }
    if (accept && !accept(me)) { me = null; signIn.wrongRole(); return; }
    document.getElementById("chrome-nav")?.toggleAttribute("hidden", Boolean(me.kiosk));
    paintLang();
    await onReady?.(me);
  }

  paintLang();
  return { signIn, start, me: () => me, unauthorized: () => signIn.rejected() };
}
