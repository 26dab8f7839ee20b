// A case's timeline in words, the same on every screen that shows one (the console, the worker's phone): event
// kinds and statuses are codes from the API, rendered here in the page's language; actors are shown as a
// person's name and role (GET /cases/{id} gives `actor_name` and `actor_role`), never `user:<name>` or a key.

import { featureName, t } from "./i18n.js";
import { tOr } from "./ui.js";

/** A status code in the page's language. */
export const statusLabel = (s) => tOr(`status.${s}`, s);

/** Who did it: "王芳 · Grid worker"; a system (an API key, a bulk import) is "system", never a key's name. */
export function actorText(e) {
  if (e.actor_name) return `${e.actor_name} · ${tOr(`role.${e.actor_role}`, e.actor_role || "")}`;
  return t("cc.ev.system");
}

/** What happened, in words. */
export function eventText(e) {
  if (e.kind === "transition" && e.data?.action === "reopen") return t("cc.ev.reopen"); // 重办 (a follow-up's)
  if (e.kind === "transition") {
    return e.from_status ? t("cc.ev.transition", { from: statusLabel(e.from_status), to: statusLabel(e.to_status) })
      : t("cc.ev.created", { to: statusLabel(e.to_status) });
  }
  const d = e.data || {};
  if (e.kind === "assign" && d.to_grid) { // a transfer to another grid (POST /cases/{id}/grid)
    const grid = (code, zh, en) => featureName({ name: zh, name_en: en }) || code || "–";
    return t("cc.ev.transfer", { from: grid(d.from_grid, d.from_grid_name, d.from_grid_name_en),
      to: grid(d.to_grid, d.to_grid_name, d.to_grid_name_en) });
  }
  const params = { rating: d.rating ?? "", to: statusLabel(e.to_status),
    satisfaction: d.satisfaction ? t(`cc.sat.${d.satisfaction}`) : "",
    channel: d.channel ? tOr(`cc.channel.${d.channel}`, d.channel) : "" };
  return tOr(`cc.ev.${e.kind}`, e.kind).replace(/\{(\w+)\}/g, (m, k) => (k in params ? String(params[k]) : m));
}
