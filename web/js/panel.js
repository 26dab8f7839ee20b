// Side panel with the details of one grid (GET /api/v1/grids/{code}).

import { classify, getNorm, setNorm } from "./norm.js";
import { featureName, formatNumber, formatOverdue, isZh, noteText, t, TIME_ZONE } from "./i18n.js";
import { h } from "./ui.js";

const COUNT_KEYS = ["buildings", "households", "population", "facilities", "reports_30d", "open_cases"];

export class DetailPanel {
  /**
   * @param {{onClose?: () => void}} opts
   */
  constructor({ onClose } = {}) {
    this.el = document.getElementById("panel");
    this.titleEl = document.getElementById("panel-title");
    this.codeEl = document.getElementById("panel-code");
    this.body = document.getElementById("panel-body");
    this.onClose = onClose;
    this.state = null; // {code, feature?, detail?, error?, loading}
    document.getElementById("panel-close").addEventListener("click", () => this.close());
    this.el.addEventListener("keydown", (ev) => {
      if (ev.key === "Escape") { ev.stopPropagation(); this.close(); }
    });
  }

  get isOpen() {
    return !this.el.hidden;
  }

  get width() {
    return this.isOpen ? this.el.getBoundingClientRect().width : 0;
  }

  open(code, feature) {
    if (this.state?.kind === "case") document.dispatchEvent(new CustomEvent("gridmap:panel-closed"));
    this.state = { code, feature, detail: null, error: null, loading: true };
    this.el.hidden = false;
    document.body.classList.add("panel-open");
    this.render();
    this.titleEl.focus({ preventScroll: true });
  }

  showDetail(code, detail) {
    if (!this.state || this.state.code !== code) return;
    if (detail?.properties?.norm) setNorm(detail.properties.norm);
    Object.assign(this.state, { detail, loading: false, error: null });
    this.render();
  }

  openCase(id) {
    this.state = { kind: "case", code: `case:${id}`, id, detail: null, error: null, loading: true };
    this.el.hidden = false;
    document.body.classList.add("panel-open");
    this.render();
    this.titleEl.focus({ preventScroll: true });
  }

  showCase(id, detail) {
    if (!this.state || this.state.code !== `case:${id}`) return;
    Object.assign(this.state, { detail, loading: false, error: null });
    this.render();
    // The map pins where the case was reported (web/js/wall.js listens).
    document.dispatchEvent(new CustomEvent("gridmap:case", { detail }));
  }

  showCases(code, items) {
    if (!this.state || this.state.code !== code) return;
    this.state.cases = items;
    this.render();
  }

  showError(code, error) {
    if (!this.state || this.state.code !== code) return;
    Object.assign(this.state, { error, loading: false });
    this.render();
  }

  close() {
    if (!this.isOpen) return;
    this.el.hidden = true;
    this.state = null;
    document.body.classList.remove("panel-open");
    document.dispatchEvent(new CustomEvent("gridmap:panel-closed"));
    this.onClose?.();
  }

  render() {
    if (!this.state) return;
    const { code, feature, detail, error, loading } = this.state;
    const isCase = this.state.kind === "case";
    this.el.dataset.kind = isCase ? "case" : "grid";
    document.querySelector("#panel .panel__kicker").textContent = t(isCase ? "case.kicker" : "panel.kicker");
    document.querySelector("#panel .panel__code > span").textContent = t(isCase ? "case.id" : "panel.code");
    const props = isCase ? {} : detail?.properties || feature?.properties || {};
    this.titleEl.textContent = isCase
      ? (detail ? ((isZh() ? detail.category_name : detail.category_name_en || detail.category_name) || detail.category)
        : t("case.kicker"))
      : featureName(props) || code;
    this.codeEl.textContent = isCase ? String(this.state.id) : props.code || code;
    this.body.replaceChildren();
    this.el.setAttribute("aria-busy", loading ? "true" : "false");

    if (loading) {
      this.body.append(h("p", { class: "panel__loading", role: "status" },
        h("span", { class: "spinner", "aria-hidden": "true" }), t("loading.detail")));
    }
    if (error) {
      this.body.append(h("div", { class: "panel__error", role: "alert" },
        h("strong", { text: t("error.detailFailed") }),
        h("p", { text: [error.title, error.detail].filter(Boolean).join(" — ") || error.message })));
    }
    if (isCase) {
      if (detail) this.renderCase(detail);
      return;
    }
    if (detail) this.renderDetail(detail.properties || {});
    else if (feature) this.renderHouseholds(props, getNorm());
    if (detail && this.state.cases) this.renderOpenCases(this.state.cases);
  }

  renderDetail(p) {
    const norm = p.norm && Number.isFinite(p.norm.min) ? p.norm : getNorm();
    const street = featureName(p, "street_name");
    const community = featureName(p, "community_name");
    this.body.append(h("dl", { class: "panel__where" },
      h("div", {}, h("dt", { text: t("panel.street") }), h("dd", { text: street || "–" })),
      h("div", {}, h("dt", { text: t("panel.community") }), h("dd", { text: community || "–" }))));

    this.renderHouseholds(p, norm);

    const counts = p.counts || {};
    const section = h("section", { class: "panel__section", "aria-labelledby": "panel-counts-title" },
      h("h3", { id: "panel-counts-title", text: t("panel.counts") }));
    const grid = h("dl", { class: "tiles" });
    for (const key of COUNT_KEYS) {
      const alert = (key === "open_cases" && Number(counts[key]) > 0) ? " tile--alert" : "";
      grid.append(h("div", { class: `tile${alert}`, "data-count": key },
        h("dt", { text: t(`count.${key}`) }),
        h("dd", { text: formatNumber(counts[key]) })));
    }
    section.append(grid);
    this.body.append(section);

    const staff = Array.isArray(p.staff) ? p.staff : [];
    const staffSection = h("section", { class: "panel__section", "aria-labelledby": "panel-staff-title" },
      h("h3", { id: "panel-staff-title", text: t("panel.staff") }));
    if (!staff.length) {
      staffSection.append(h("p", { class: "muted", text: t("panel.noStaff") }));
    } else {
      const list = h("ul", { class: "staff" });
      for (const s of staff) {
        const roleKey = `role.${s.role}`;
        const role = t(roleKey) === roleKey ? String(s.role || "") : t(roleKey);
        list.append(h("li", { class: `staff__item staff__item--${s.role || "other"}` },
          h("span", { class: "staff__avatar", "aria-hidden": "true", text: String(s.name || "?").slice(0, 1) }),
          h("span", { class: "staff__who" },
            h("span", { class: "staff__name", text: s.name || "–" }),
            h("span", { class: "staff__role", text: role })),
          h("span", { class: "staff__phone", title: t("panel.phoneMasked"), text: s.phone || "–" })));
      }
      staffSection.append(list);
    }
    this.body.append(staffSection);
  }

  renderOpenCases(items) {
    const section = h("section", { class: "panel__section", "aria-labelledby": "panel-cases-title" },
      h("h3", { id: "panel-cases-title", text: t("panel.openCases", { n: formatNumber(items.length) }) }));
    if (!items.length) section.append(h("p", { class: "muted", text: t("dash.none") }));
    const list = h("ul", { class: "cases cases--panel" });
    for (const c of items.slice(0, 20)) {
      const late = c.overdue_hours > 0;
      const btn = h("button", { type: "button", class: `case${late ? " case--overdue" : ""}`, "data-case": c.id },
        h("span", { class: "case__cat", text: (isZh() ? c.category_name : c.category_name_en || c.category_name) || c.category }),
        h("span", { class: "case__grid", text: t(`case.${c.status}`) }),
        h("span", { class: "case__late", text: late ? formatOverdue(c.overdue_hours) : "" }));
      btn.addEventListener("click", () => this.onCase?.(c.id));
      list.append(h("li", {}, btn));
    }
    section.append(list);
    this.body.append(section);
  }

  renderCase(c) {
    const fmt = (iso) => iso ? new Intl.DateTimeFormat(isZh() ? "zh-CN" : "en", { dateStyle: "medium", timeStyle: "short",
      timeZone: TIME_ZONE }).format(new Date(iso)) : "–";
    const late = c.overdue_hours > 0 && !["closed", "rejected"].includes(c.status);
    const grid = (isZh() ? c.grid_name : c.grid_name_en || c.grid_name) || c.grid_code || t("live.unrouted");
    this.body.append(h("p", { class: "norm-line" },
      h("span", { class: `pill pill--case pill--${c.status}`, text: t(`case.${c.status}`) }),
      late ? h("span", { class: "pill pill--over", text: formatOverdue(c.overdue_hours) }) : null));
    const rows = [
      ["case.grid", grid], ["case.source", t(`source.${c.source}`)], ["case.reportedAt", fmt(c.reported_at)],
      ["case.deadline", fmt(c.deadline)], ["case.assignee", c.assignee || "–"],
      ["case.reporter", c.reporter ? [c.reporter.name, c.reporter.phone].filter(Boolean).join(" · ") : "–"],
    ];
    this.body.append(h("dl", { class: "panel__where panel__case" },
      rows.map(([k, v]) => h("div", {}, h("dt", { text: t(k) }), h("dd", { text: v })))));
    if (c.description) this.body.append(h("blockquote", { class: "case-desc", text: c.description }));
    const ev = h("section", { class: "panel__section" }, h("h3", { text: t("case.events") }));
    const ol = h("ol", { class: "events" });
    for (const e of c.events || []) {
      ol.append(h("li", {}, h("time", { text: fmt(e.at) }), h("strong", { text: t(`case.${e.to}`) }),
        e.note ? h("span", { class: "muted", "data-note-code": e.note_code || null, text: noteText(e) }) : null));
    }
    ev.append(ol);
    this.body.append(ev);
  }

  renderHouseholds(p, norm) {
    const households = p.counts?.households ?? p.households;
    const population = p.counts?.population ?? p.population;
    const cls = classify(households, norm);
    let verdict = t(`status.${cls}`);
    if (cls === "under") verdict = t("panel.normUnder", { n: formatNumber(norm.min - households) });
    if (cls === "over") verdict = t("panel.normOver", { n: formatNumber(households - norm.max) });
    if (cls === "within") verdict = t("panel.normWithin");

    // gauge: 0 … 1.5×max, with the norm band highlighted
    const scaleMax = Math.max(norm.max * 1.5, Number(households) || 0);
    const pct = (v) => `${Math.max(0, Math.min(100, (v / scaleMax) * 100)).toFixed(1)}%`;
    const gauge = h("div", { class: "gauge", "aria-hidden": "true" },
      h("span", { class: "gauge__band", style: `left:${pct(norm.min)};width:calc(${pct(norm.max)} - ${pct(norm.min)})` }),
      Number.isFinite(Number(households))
        ? h("span", { class: `gauge__mark gauge__mark--${cls}`, style: `left:${pct(Number(households))}` })
        : null);

    this.body.append(h("section", { class: "panel__section panel__hh" },
      h("div", { class: "kpis" },
        h("div", { class: "kpi" },
          h("span", { class: "kpi__label", text: t("panel.households") }),
          h("span", { class: "kpi__value" }, formatNumber(households),
            h("small", { text: ` ${t("unit.households")}` }))),
        h("div", { class: "kpi" },
          h("span", { class: "kpi__label", text: t("panel.population") }),
          h("span", { class: "kpi__value" }, formatNumber(population),
            h("small", { text: ` ${t("unit.people")}` })))),
      gauge,
      h("p", { class: "norm-line" },
        h("span", { class: `pill pill--${cls}`, text: verdict }),
        h("span", { class: "muted", text: t("panel.norm", { min: norm.min, max: norm.max }) }))));
  }
}
