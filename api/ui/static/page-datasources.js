// Datasources: the list, and one datasource: validate, the catalog → schema → table →
// columns browser (_metadata), a sample query with its rows as a table.
import { ApiError, datasourcePath, gate, get, post } from "./api.js";
import { card, dash, fields, fill, h, json, table } from "./dom.js";
import { cellValue, number, numericColumn } from "./format.js";
import { field, FormErrors } from "./forms.js";
import { actionButton, deleteButton, pageHeader, pager } from "./ui.js";

const PAGE_SIZE = 25;

export async function datasourcesPage(ctx) {
  const from = Math.max(0, Number(ctx.query.get("start")) || 0);
  const result = await get("datasource/_search", { from, size: PAGE_SIZE });
  if (!ctx.alive()) return;
  fill(
    ctx.main,
    pageHeader("Datasources", {
      subtitle: "SQL databases that ingestions read from. Passwords are stored encrypted and never shown.",
      actions: [h("a.button.primary", { href: "#/datasources/_new" }, "New datasource")],
    }),
    card(
      null,
      table(
        [
          { label: "Datasource", cell: (hit) => h("a.mono", { href: `#/datasources/${encodeURIComponent(hit._id)}` }, hit._id) },
          { label: "Kind", cell: (hit) => h("span.badge.neutral", kind(hit._source)) },
          { label: "URL", className: "wrap", cell: (hit) => h("span.mono.small", connection(hit._source).url) },
          { label: "User", cell: (hit) => connection(hit._source).username || dash() },
          { label: "Time zone", cell: (hit) => connection(hit._source).timezone || h("span.muted", "UTC") },
          { label: "Description", className: "wrap", cell: (hit) => hit._source.description || "" },
        ],
        result.hits.hits,
        {
          empty: h("span", "No datasource yet. ", h("a", { href: "#/datasources/_new" }, "Register one.")),
          rowAttrs: (hit) => ({ dataset: { datasource: hit._id } }),
        },
      ),
      result.hits.total > PAGE_SIZE
        ? pager({ from, size: PAGE_SIZE, total: result.hits.total, onPage: (start) => ctx.navigate("datasources", { start }) })
        : null,
    ),
  );
}

export function kind(source) {
  return source.jdbc ? "jdbc" : "sql";
}

export function connection(source) {
  return source.jdbc || source.sql || {};
}

// ------------------------------------------------------------------ one datasource

export async function datasourcePage(ctx) {
  const [id] = ctx.params;
  const doc = await get(datasourcePath(id));
  if (!ctx.alive()) return;
  const source = doc._source;
  const conn = connection(source);
  const validation = h("div.validation", { "aria-live": "polite" });

  const validate = actionButton("Validate", async () => {
    fill(validation, h("p.muted.loading", "Connecting…"));
    try {
      const result = await post(`${datasourcePath(id)}/_validate`);
      fill(validation, validationResult(result));
    } catch (ex) {
      if (!(ex instanceof ApiError)) throw ex;
      fill(validation, h("div.notice.error", { dataset: { valid: "false" } }, ex.readable));
    }
  });
  const remove = deleteButton({
    title: `Delete datasource ${id}?`,
    body: "Ingestions that use it must be deleted first (the service refuses otherwise).",
    path: datasourcePath(id),
    deleted: `Datasource ${id} deleted.`,
    goTo: "datasources",
    navigate: ctx.navigate,
  });

  const sample = sampleQuery(id);
  fill(
    ctx.main,
    pageHeader(h("span", "Datasource ", h("span.mono", id)), {
      crumbs: [["Datasources", "#/datasources"]],
      subtitle: source.description || null,
      actions: [gate(validate, "admin"), gate(h("a.button", { href: `#/datasources/${encodeURIComponent(id)}/edit` }, "Edit"), "admin"), gate(remove, "admin")],
    }),
    validation,
    card(
      "Connection",
      fields([
        ["Kind", h("span.badge.neutral", kind(source))],
        ["URL", h("span.mono", conn.url)],
        ["Driver", conn.driver ? h("span.mono", conn.driver) : null],
        ["User", conn.username ? h("span.mono", conn.username) : null],
        ["Password", h("span.muted", "write-only: never returned by the service")],
        ["Time zone", conn.timezone || h("span.muted", "UTC")],
        ["Properties", conn.properties && Object.keys(conn.properties).length ? json(conn.properties) : null],
      ]),
    ),
    card("Tables", browser(id, sample)),
    card("Sample query", sample.el),
  );
}

function validationResult(result) {
  return h(
    "div.notice",
    { class: result.valid ? "ok" : "error", dataset: { valid: String(result.valid) } },
    result.valid ? h("strong", "Connected. ") : h("strong", "Not valid. "),
    `${result.dialect}${result.server_version ? ` ${result.server_version}` : ""}, answered in ${result.took} ms.`,
  );
}

// ------------------------------------------------------------------ catalog browser

function browser(id, sample) {
  const schemas = h("div.pane", { "aria-label": "Schemas" }, h("p.muted.loading", "Loading…"));
  const tables = h("div.pane", { "aria-label": "Tables" }, h("p.muted", "Choose a schema."));
  const columns = h("div.pane.wide", { "aria-label": "Columns" }, h("p.muted", "Choose a table."));
  const el = h("div.browser", schemas, tables, columns);
  let dialect = "";

  const metadata = (query) => post(`${datasourcePath(id)}/_metadata`, undefined, query);
  const select = (pane, button) => {
    for (const b of pane.querySelectorAll("button.item")) b.classList.toggle("selected", b === button);
  };
  const failed = (pane, ex) => {
    if (!(ex instanceof ApiError)) throw ex;
    fill(pane, h("div.notice.error", ex.readable));
  };

  const showTable = async (catalog, schema, tableMeta, button) => {
    select(tables, button);
    fill(columns, h("p.muted.loading", "Loading…"));
    let meta = tableMeta;
    try {
      const result = await metadata({ schema, table: tableMeta.name });
      meta = result.catalogs[0].schemas[0].tables.find((t) => t.name === tableMeta.name) || tableMeta;
    } catch (ex) {
      failed(columns, ex);
      return;
    }
    const pk = new Set(meta.primary_key || []);
    fill(
      columns,
      h("div.pane-title", h("span.mono", `${schema}.${meta.name}`), " ", h("span.badge.neutral", meta.type)),
      table(
        [
          { label: "Column", cell: (c) => h("span.mono", c.name, pk.has(c.name) ? h("span.pk", { title: "primary key" }, " PK") : null) },
          { label: "Type", cell: (c) => h("span.mono.small", c.type) },
          { label: "Null", cell: (c) => (c.nullable ? "yes" : "no") },
          { label: "ES type", cell: (c) => (c.es_type ? h("span.mono.small", c.es_type) : dash()) },
        ],
        meta.columns,
        { className: "columns-table", rowAttrs: (c) => ({ dataset: { column: c.name } }) },
      ),
      h(
        "div.actions.left",
        actionButton("Sample this table", async () => {
          sample.setQuery(`SELECT * FROM ${quote(schema, dialect)}.${quote(meta.name, dialect)}`);
          await sample.run();
        }),
      ),
    );
  };

  const showSchema = async (catalog, schema, button) => {
    select(schemas, button);
    fill(tables, h("p.muted.loading", "Loading…"));
    fill(columns, h("p.muted", "Choose a table."));
    try {
      const result = await metadata({ schema });
      const found = result.catalogs[0].schemas.find((s) => s.name === schema);
      const list = (found && found.tables) || [];
      fill(
        tables,
        h("div.pane-title", h("span.mono", schema), " ", h("span.muted.small", `${list.length} table${list.length === 1 ? "" : "s"}`)),
        list.length
          ? h(
              "ul.items",
              list.map((t) => {
                const item = h(
                  "button.item",
                  { type: "button", dataset: { table: t.name } },
                  h("span.mono", t.name),
                  h("span.muted.small", ` ${t.type === "view" ? "view · " : ""}${t.columns.length} col.`),
                );
                item.addEventListener("click", () => showTable(catalog, schema, t, item));
                return h("li", item);
              }),
            )
          : h("p.muted", "No table or view in this schema."),
      );
    } catch (ex) {
      failed(tables, ex);
    }
  };

  metadata({})
    .then((result) => {
      dialect = result.dialect;
      fill(
        schemas,
        result.catalogs.map((catalog) => [
          h("div.pane-title", h("span.muted.small", "catalog "), h("span.mono", catalog.name || "(default)")),
          h(
            "ul.items",
            catalog.schemas.map((s) => {
              const item = h("button.item", { type: "button", dataset: { schema: s.name } }, h("span.mono", s.name));
              item.addEventListener("click", () => showSchema(catalog.name, s.name, item));
              return h("li", item);
            }),
          ),
        ]),
      );
    })
    .catch((ex) => failed(schemas, ex));
  return el;
}

function quote(name, dialect) {
  if (/^[a-z_][a-z0-9_]*$/.test(name)) return name;
  return dialect.startsWith("mysql") || dialect.startsWith("mariadb") ? `\`${name.replaceAll("`", "``")}\`` : `"${name.replaceAll('"', '""')}"`;
}

// ------------------------------------------------------------------ sample query

function sampleQuery(id) {
  const query = field("query", "SQL", { kind: "textarea", rows: 4, wide: true, placeholder: "SELECT * FROM …" });
  const size = field("size", "Rows", { kind: "number", value: 10, attrs: { min: "1", max: "1000" } });
  const errors = new FormErrors([query, size], { strip: ["$."] });
  const output = h("div.sample-output");
  const button = h("button.primary", { type: "submit" }, "Run query");
  const run = async () => {
    const values = errors.collect();
    if (!values) return;
    button.disabled = true;
    fill(output, h("p.muted.loading", "Running…"));
    try {
      const result = await post(`${datasourcePath(id)}/_sample`, values);
      fill(output, sampleResult(result));
    } catch (ex) {
      if (!(ex instanceof ApiError)) throw ex;
      fill(output);
      errors.show(ex);
    } finally {
      button.disabled = false;
    }
  };
  const form = h(
    "form.sample-form",
    {
      onSubmit: (event) => {
        event.preventDefault();
        run();
      },
    },
    errors.general,
    h("div.form-grid", query.el, size.el),
    h("div.actions.left", gate(button, "admin"), h("span.muted.small", "Read-only session; nothing is written.")),
  );
  return {
    el: h("div", form, output),
    setQuery(text) {
      query.input.value = text;
    },
    run,
  };
}

function sampleResult(result) {
  return h(
    "div",
    h("p.muted", `${number(result.rows.length)} row${result.rows.length === 1 ? "" : "s"}`),
    table(
      result.columns.map((c) => ({
        label: h("span", { title: c.db_type || "" }, c.name, c.db_type ? h("span.coltype", c.db_type) : null),
        className: numericColumn(result.rows, (row) => row[c.name]) ? "num" : "",
        cell: (row) => cellValue(row[c.name]),
      })),
      result.rows,
      { empty: "The query returned no row.", className: "sample-rows" },
    ),
    h("details", h("summary", "Inferred mapping"), json(result.mapping)),
  );
}
