// Jobs: the queued and running runs, live; the job-log history with the _search filters.
import { get } from "./api.js";
import { append, card, fill, h, table } from "./dom.js";
import { duration, number, rate, shortRun, STATES, stateBadge, time } from "./format.js";
import { RateTracker, remainingMs } from "./live.js";
import { pageHeader, pager, progressBar, runFraction } from "./ui.js";

const ACTIVE_POLL_MS = 1000;
const HISTORY_POLL_MS = 5000;
const PAGE_SIZES = [10, 20, 50, 100];
// The job log's `sort` (docs/api.md): "" is the service's default, newest first (create_time:desc).
const SORTS = [
  ["", "Newest first"],
  ["create_time:asc", "Oldest first"],
  ["start_time:desc", "Started: latest first"],
  ["start_time:asc", "Started: earliest first"],
  ["end_time:desc", "Ended: latest first"],
  ["end_time:asc", "Ended: earliest first"],
  ["count:desc", "Documents: most first"],
  ["count:asc", "Documents: fewest first"],
  ["error_count:desc", "Rejected rows: most first"],
  ["error_count:asc", "Rejected rows: fewest first"],
];
const Q_HELP =
  'Words in the runs\' messages (infos and errors), all of which must match: timeout -connection excludes "connection", ' +
  '"lost the connection" is a phrase, divi* a prefix.';

/** A `sort` from the address as one of SORTS' values: "count" is "count:asc", the default and anything unknown "". */
function sortValue(raw) {
  if (!raw) return "";
  const [field, order = "asc"] = raw.split(":");
  const value = `${field}:${order}`;
  if (value === "create_time:desc") return "";
  return SORTS.some(([v]) => v === value) ? value : "";
}

export async function jobsPage(ctx) {
  const activeBody = h("div", h("p.muted.loading", "Loading…"));
  const activeCount = h("span.count");
  const historyBody = h("div", h("p.muted.loading", "Loading…"));
  const filters = Filters.fromQuery(ctx.query);
  fill(
    ctx.main,
    pageHeader("Jobs", { subtitle: "Ingestion runs: what is running now, and every run in the job log." }),
    card(h("span", "Queued and running ", activeCount), activeBody),
    card("History", filterForm(ctx, filters), historyBody),
  );

  const tracker = new RateTracker();
  const rows = new Map();
  let activeKey = "";
  ctx.every(ACTIVE_POLL_MS, async () => {
    const { jobs } = await get("jobs/ingestion");
    if (!ctx.alive()) return;
    const statuses = jobs.filter((j) => j.found).map((j) => j.status);
    activeCount.textContent = statuses.length ? `(${statuses.length})` : "";
    renderActive(activeBody, statuses, rows, tracker);
    // A run that started or ended changes the history: refresh it now rather than at its next poll.
    const key = statuses.map((s) => `${s.run_id}:${s.state}`).join(",");
    if (key !== activeKey) {
      const first = activeKey === "";
      activeKey = key;
      if (!first) refreshHistory();
    }
  });

  let historyRequest = 0;
  const refreshHistory = async () => {
    const mine = ++historyRequest;
    const result = await get("jobs/_search", filters.apiQuery());
    if (!ctx.alive() || mine !== historyRequest) return;
    renderHistory(ctx, historyBody, result.hits, filters);
  };
  ctx.every(HISTORY_POLL_MS, refreshHistory);
}

// ------------------------------------------------------------------ queued and running

const ACTIVE_COLUMNS = ["Job", "State", "Progress", "Documents", "Rate", "ETA", "Worker", "Started"];

function renderActive(container, statuses, rows, tracker) {
  if (!statuses.length) {
    rows.clear();
    fill(container, h("p.empty-state", "No run is queued or running. Start one from an ingestion, or wait for a schedule."));
    return;
  }
  let tbody = container.querySelector("tbody");
  if (!tbody) {
    tbody = h("tbody");
    fill(
      container,
      h(
        "div.table-wrap",
        h("table.active-jobs", h("thead", h("tr", ACTIVE_COLUMNS.map((c) => h("th", { class: numeric(c) ? "num" : "" }, c)))), tbody),
      ),
    );
  }
  const seen = new Set();
  for (const status of statuses) {
    seen.add(status.run_id);
    let row = rows.get(status.run_id);
    if (!row) {
      row = activeRow(status);
      rows.set(status.run_id, row);
    }
    row.update(status, tracker.observe(status));
    tbody.append(row.tr); // keeps the service's order
  }
  for (const [runId, row] of rows) {
    if (!seen.has(runId)) {
      row.tr.remove();
      rows.delete(runId);
    }
  }
  tracker.forgetExcept(seen);
}

function numeric(column) {
  return ["Documents", "Rate", "ETA"].includes(column);
}

function activeRow(status) {
  const cells = ACTIVE_COLUMNS.map((c) => h("td", { class: numeric(c) ? "num" : "" }));
  const tr = h("tr", { dataset: { job: status.id, run: status.run_id } }, cells);
  const bar = progressBar(null);
  append(cells[0], h("a.mono", { href: `#/jobs/ingestion/${encodeURIComponent(status.id)}` }, status.id));
  cells[2].append(bar);
  return {
    tr,
    update(s, docsPerSecond) {
      fill(cells[1], stateBadge(s.state));
      const fraction = runFraction(s);
      bar.update(s.state === "queued" ? null : fraction, s.state === "queued" ? "waiting for a worker" : fraction === null ? "size unknown" : null);
      fill(cells[3], number(s.count), s.total ? h("span.muted", " / ", number(s.total)) : null);
      cells[3].dataset.count = String(s.count);
      fill(cells[4], s.state === "running" ? rate(docsPerSecond) : h("span.muted", "—"));
      const left = s.state === "running" ? remainingMs(s, docsPerSecond) : null;
      fill(
        cells[5],
        left
          ? h("span", { title: s.eta ? `ETA ${new Date(s.eta).toLocaleString()} (${s.eta} UTC)` : "estimated from the rate" }, `${left.estimated ? "~" : ""}${duration(left.ms)}`)
          : h("span.muted", "—"),
      );
      fill(cells[6], s.worker ? h("span.mono.small", s.worker) : h("span.muted", "—"));
      fill(cells[7], time(s.start_time || s.create_time, { short: true }));
    },
  };
}

// ------------------------------------------------------------------ history

class Filters {
  constructor(values) {
    Object.assign(this, values);
  }

  static fromQuery(query) {
    const size = Number(query.get("size")) || 20;
    return new Filters({
      q: (query.get("q") || "").trim(),
      sort: sortValue(query.get("sort")),
      id: query.get("id") || "",
      states: (query.get("state") || "").split(",").filter((s) => STATES.includes(s)),
      since: query.get("since") || "",
      until: query.get("until") || "",
      ended: ["true", "false"].includes(query.get("ended")) ? query.get("ended") : "",
      start: Math.max(0, Number(query.get("start")) || 0),
      size: PAGE_SIZES.includes(size) ? size : 20,
    });
  }

  hashQuery(overrides = {}) {
    const v = { ...this, ...overrides };
    return {
      q: v.q,
      sort: v.sort,
      id: v.id,
      state: v.states.join(","),
      since: v.since,
      until: v.until,
      ended: v.ended,
      start: v.start ? String(v.start) : "",
      size: v.size !== 20 ? String(v.size) : "",
    };
  }

  /** The _search parameters; the date picker's local times become epoch ms. */
  apiQuery() {
    const toMs = (local, endOfMinute) => {
      if (!local) return "";
      const ms = new Date(local).getTime();
      if (isNaN(ms)) return "";
      // datetime-local has minute precision: "until 10:15" includes 10:15:59.999.
      return String(endOfMinute && local.length <= 16 ? ms + 59999 : ms);
    };
    return {
      type: "ingestion",
      id: this.id.replace(/\s+/g, ""),
      state: this.states.join(","),
      start_time_from: toMs(this.since, false),
      start_time_to: toMs(this.until, true),
      ended: this.ended,
      q: this.q,
      sort: this.sort,
      from: this.start,
      size: this.size,
    };
  }

  get any() {
    return Boolean(this.q || this.sort || this.id || this.states.length || this.since || this.until || this.ended);
  }

  /** Whether any filter narrows the list (a sort alone does not). */
  get narrowed() {
    return Boolean(this.q || this.id || this.states.length || this.since || this.until || this.ended);
  }

  /** The pager's buttons say where they go: newer/older only when the list is in time order. */
  get pageLabels() {
    if (!this.sort) return ["‹ Newer", "Older ›"];
    if (this.sort === "create_time:asc") return ["‹ Older", "Newer ›"];
    return ["‹ Previous", "Next ›"];
  }
}

function filterForm(ctx, filters) {
  const stateBoxes = STATES.map((state) =>
    h(
      "label.check",
      h("input", { type: "checkbox", name: "state", value: state, checked: filters.states.includes(state) }),
      stateBadge(state),
    ),
  );
  const form = h(
    "form.filters",
    {
      "aria-label": "Filter the job log",
      onSubmit: (event) => {
        event.preventDefault();
        const data = new FormData(form);
        const next = new Filters({
          q: String(data.get("q") || "").trim(),
          sort: sortValue(String(data.get("sort") || "")),
          id: String(data.get("id") || "").trim(),
          states: data.getAll("state").map(String),
          since: String(data.get("since") || ""),
          until: String(data.get("until") || ""),
          ended: String(data.get("ended") || ""),
          start: 0,
          size: Number(data.get("size")) || 20,
        });
        ctx.navigate("jobs", next.hashQuery());
      },
    },
    // What to find, then when and in which order.
    h(
      "div.filter-row",
      h(
        "label.field.search",
        h("span", "Messages"),
        h("input", { type: "search", name: "q", value: filters.q, placeholder: "e.g. timeout -connection", spellcheck: "false", title: Q_HELP }),
      ),
      h("label.field", h("span", "Job id"), h("input", { type: "search", name: "id", value: filters.id, placeholder: "id, or a comma list", spellcheck: "false" })),
      h(
        "label.field",
        h("span", "Ended"),
        h(
          "select",
          { name: "ended" },
          [
            ["", "any"],
            ["true", "ended"],
            ["false", "not ended"],
          ].map(([value, label]) => h("option", { value, selected: filters.ended === value }, label)),
        ),
      ),
    ),
    h(
      "div.filter-row",
      h(
        "label.field",
        h("span", "Started from"),
        h("input", { type: "datetime-local", name: "since", value: filters.since, title: "in your browser's time zone" }),
      ),
      h(
        "label.field",
        h("span", "Started until"),
        h("input", { type: "datetime-local", name: "until", value: filters.until, title: "in your browser's time zone" }),
      ),
      h(
        "label.field",
        h("span", "Sort"),
        h("select", { name: "sort" }, SORTS.map(([value, label]) => h("option", { value, selected: filters.sort === value }, label))),
      ),
      h(
        "label.field.narrow",
        h("span", "Per page"),
        h("select", { name: "size" }, PAGE_SIZES.map((n) => h("option", { value: String(n), selected: filters.size === n }, String(n)))),
      ),
    ),
    h("fieldset.states", h("legend", "State"), stateBoxes),
    h(
      "div.actions",
      h("button.primary", { type: "submit" }, "Apply filters"),
      filters.any ? h("a.button", { href: "#/jobs" }, "Clear") : null,
    ),
  );
  return form;
}

function renderHistory(ctx, container, hits, filters) {
  const statuses = hits.hits.map((hit) => hit._source.ingestion);
  const [sortField, sortOrder] = (filters.sort || "create_time:desc").split(":");
  const sorted = (...names) => (names.includes(sortField) ? (sortOrder === "asc" ? "ascending" : "descending") : null);
  const columns = [
    { label: "Job", cell: (s) => h("a.mono", { href: `#/jobs/ingestion/${encodeURIComponent(s.id)}` }, s.id) },
    {
      label: "Run",
      cell: (s) => h("a", { href: `#/jobs/ingestion/${encodeURIComponent(s.id)}/runs/${encodeURIComponent(s.run_id)}` }, shortRun(s.run_id, s.id)),
    },
    { label: "State", cell: (s) => stateBadge(s.state) },
    { label: "Trigger", cell: (s) => s.trigger || "—" },
    // A queued run has no start_time yet: its creation time stands in, as the default sort uses.
    { label: "Started", sorted: sorted("start_time", "create_time"), cell: (s) => time(s.start_time || s.create_time) },
    { label: "Duration", className: "num", cell: (s) => (s.start_time ? duration((s.end_time || Date.now()) - s.start_time) : "—") },
    { label: "Documents", className: "num", sorted: sorted("count"), cell: (s) => number(s.count) },
    { label: "Rejected", className: "num", sorted: sorted("error_count"), cell: (s) => (s.error_count ? h("span.warn", number(s.error_count)) : number(s.error_count || 0)) },
    // Only change-sync runs delete documents: the column is shown when one of these did.
    statuses.some((s) => s.deleted) ? { label: "Deleted", className: "num", cell: (s) => number(s.deleted || 0) } : null,
    {
      label: "Info",
      className: filters.q ? "info searched" : "info",
      cell: (s) => {
        const text = s.error && s.error.length ? s.error.join(" — ") : s.infos || "";
        // Found by words of its messages: the whole text, with those words marked, says why.
        return filters.q ? h("span.found", marked(text, filters.q)) : h("span.clip", { title: text }, text);
      },
    },
  ].filter(Boolean);
  fill(
    container,
    table(columns, statuses, {
      empty: filters.narrowed ? "No run matches these filters." : "No run yet.",
      className: "history",
      rowAttrs: (s) => ({ dataset: { job: s.id, run: s.run_id, state: s.state } }),
    }),
    pager({
      from: filters.start,
      size: filters.size,
      total: hits.total,
      labels: filters.pageLabels,
      onPage: (start) => ctx.navigate("jobs", filters.hashQuery({ start })),
    }),
  );
}

/**
 * The text with the words of a simple query string marked (a reading aid: the service's
 * analyzer decides what matched). Excluded words (-x) are not marked; `divi*` marks the prefix.
 */
function marked(text, q) {
  const terms = [...q.matchAll(/(-?)"([^"]+)"|(-?)(\S+)/g)]
    .filter((m) => !m[1] && !m[3])
    .map((m) => (m[2] || m[4]).replace(/[*~+|()]+\d*$/, "").replace(/^[+|(]+/, ""))
    .filter((t) => t.length > 1);
  if (!terms.length) return text;
  const pattern = new RegExp(`(${terms.map((t) => t.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")).join("|")})`, "gi");
  return text.split(pattern).map((part, i) => (i % 2 ? h("mark", part) : part));
}
