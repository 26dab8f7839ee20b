// The map wall's day replay: the day's reports drawn as heat up to the slider's minute, and played.

import { api } from "../api.js";
import { formatNumber, t } from "../i18n.js";
import { $, beijingDate } from "./common.js";

export const replayMethods = {
  async startReplay(minute) {
    const day = $("replay-day").value || beijingDate();
    if (!this.replay || this.replay.day !== day) {
      const { category, status, source } = this.filters;
      const res = await this.guard("replay", (signal) => api.replay({ day, category, status, source }, { signal }));
      if (!res) return;
      this.replay = { day, points: res.points, minute: 0, playing: false };
      document.body.classList.add("replaying");
      $("replay-exit").hidden = false;
    }
    this.replay.minute = minute;
    $("replay-slider").value = String(minute);
    const secs = minute * 60;
    let n = 0;
    while (n < this.replay.points.length && this.replay.points[n][0] <= secs) n += 1;
    const shown = this.replay.points.slice(0, n);
    this.heat.setOptions({ radius: 18, blur: 14 });
    this.heat.setLatLngs(this.heatOn ? shown.map((p) => [p[2], p[1], 1]) : []);
    const hh = String(Math.floor(minute / 60)).padStart(2, "0");
    const mm = String(minute % 60).padStart(2, "0");
    $("replay-time").textContent = `${hh}:${mm}`;
    $("replay-count").textContent = t("replay.count", { n: formatNumber(n) });
    this.replay.shown = n;
    // The dashboard stays on live figures: it says so plainly while the map shows the replayed moment.
    $("dash-replay").hidden = false;
    $("dash-replay").textContent = `${t("dash.replayLive")} · ${day} ${hh}:${mm}`;
    this.renderHeatInfo();
    this.renderHealth();
    window.gridmap.replay = { day, minute, shown: n, total: this.replay.points.length };
  },

  togglePlay() {
    if (this.replay?.playing) {
      this.replay.playing = false;
      clearInterval(this.playTimer);
      $("replay-play").setAttribute("aria-pressed", "false");
      return;
    }
    const begin = async () => {
      if (!this.replay) await this.startReplay(0);
      if (!this.replay) return;
      this.replay.playing = true;
      $("replay-play").setAttribute("aria-pressed", "true");
      // A day in about 24 s: ten minutes every 166 ms.
      this.playTimer = setInterval(() => {
        const next = this.replay.minute + 10;
        if (next >= 1440) { this.togglePlay(); return; }
        this.startReplay(next);
      }, 166);
    };
    begin();
  },

  stopReplay() {
    clearInterval(this.playTimer);
    this.replay = null;
    document.body.classList.remove("replaying");
    $("replay-exit").hidden = true;
    $("replay-play").setAttribute("aria-pressed", "false");
    $("replay-time").textContent = "";
    $("replay-count").textContent = "";
    $("dash-replay").hidden = true;
    window.gridmap.replay = null;
    this.renderHealth();
    this.refreshHeat();
  },
};
