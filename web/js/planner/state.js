// The planner workspace (web/js/planner.js): the page's constants, its state and the test hook (window.gridmap).

export const L = window.L;
export const $ = (id) => document.getElementById(id);
export const PLANNERS = ["admin", "planner"];
export const BUILDINGS_MIN_ZOOM = 16; // footprints are fetched (for snapping and reassigning) from this zoom on
export const SNAP_PX = 14;
export const SERVER_SNAP_M = 2; // the API's default snap distance
export const MAX_MOVES_DRAWN = 5000; // more would only paint the district orange; the table and summary have them all
export const EMPTY_FC = { type: "FeatureCollection", features: [] };
export const BEIJING = "Asia/Shanghai";

export const state = {
  me: null,
  layouts: [],
  layout: null, // LayoutOut of the layout shown
  revision: null,
  features: new Map(), // code -> grid Feature of the layout shown
  selected: null, // selected grid code
  mode: "select",
  validation: null,
  impact: null,
  tab: "layouts",
  msg: null, // {kind: ok|error|info, text, reload}
  buildingPick: null, // building feature being reassigned
  deleteArmed: false,
  importFields: [],
};

// Test / automation hook: what the page knows, for the browser tests to wait on.
window.gridmap = {
  ready: false, lang: null, layoutId: null, status: null, revision: null, saved: 0, failed: 0,
  lastError: null, validation: null, impact: null, compare: null, route: null, edits: null, map: null,
  gridCount: 0, loads: 0, published: null,
};

export const layers = {};
