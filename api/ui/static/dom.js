// Building the DOM without HTML strings: every text goes through textContent
// (the CSP enforces Trusted Types, so innerHTML with a string would throw).

/**
 * Create an element: h("a#id.class", {href: "#/x", title: "t"}, "text", child, ...).
 * Attributes starting with "on" are event listeners; `dataset` and `style` are objects;
 * null/undefined/false children and attributes are skipped.
 */
export function h(spec, attrs, ...children) {
  const [tagAndId, ...classes] = spec.split(".");
  const [tag, id] = tagAndId.split("#");
  const el = document.createElement(tag || "div");
  if (id) el.id = id;
  if (classes.length) el.className = classes.join(" ");
  if (attrs && (typeof attrs !== "object" || attrs instanceof Node || Array.isArray(attrs))) {
    children.unshift(attrs);
    attrs = null;
  }
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") {
      el.addEventListener(key.slice(2).toLowerCase(), value);
    } else if (key === "dataset") {
      Object.assign(el.dataset, value);
    } else if (key === "style") {
      Object.assign(el.style, value); // CSSOM, which the CSP allows (unlike style attributes)
    } else if (key === "class") {
      el.className = [el.className, value].filter(Boolean).join(" ");
    } else if (key in el && typeof value !== "string") {
      el[key] = value;
    } else {
      el.setAttribute(key, value === true ? "" : String(value));
    }
  }
  append(el, children);
  return el;
}

/** Append children (nodes, text, nested arrays; null/undefined/false skipped). */
export function append(parent, children) {
  for (const child of [children].flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    parent.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return parent;
}

/** Replace an element's children. */
export function fill(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}

/**
 * A table: columns [{label, cell: (row) => node|text, className, title, sorted}], rows.
 * `sorted` ("ascending" | "descending") marks the column the rows are sorted by.
 */
export function table(columns, rows, { empty = "Nothing to show.", rowAttrs = null, className = "" } = {}) {
  const arrow = (sorted) => h("span.sort-arrow", { "aria-hidden": "true" }, sorted === "ascending" ? "▲" : "▼");
  const head = h(
    "thead",
    h(
      "tr",
      columns.map((c) =>
        h("th", { class: c.className, title: c.title || (c.sorted ? `sorted, ${c.sorted}` : null), "aria-sort": c.sorted || null }, c.label, c.sorted ? arrow(c.sorted) : null),
      ),
    ),
  );
  const body = h("tbody");
  if (!rows.length) {
    body.append(h("tr.empty", h("td", { colSpan: columns.length }, empty)));
  }
  for (const row of rows) {
    body.append(
      h("tr", rowAttrs ? rowAttrs(row) : null, columns.map((c) => h("td", { class: c.className }, c.cell(row)))),
    );
  }
  return h("div.table-wrap", h("table", { class: className }, head, body));
}

/** A description list from [label, value] pairs; value null shows a dash. */
export function fields(pairs, { className = "" } = {}) {
  const dl = h("dl.fields", { class: className });
  for (const [label, value, attrs] of pairs) {
    dl.append(h("dt", label), h("dd", attrs || null, value === null || value === undefined ? dash() : value));
  }
  return dl;
}

export function dash() {
  return h("span.muted", "—");
}

export function card(title, ...children) {
  return h("section.card", title ? h("h2", title) : null, ...children);
}

export function code(text) {
  return h("pre.code", h("code", text));
}

export function json(value) {
  return code(JSON.stringify(value, null, 2));
}
