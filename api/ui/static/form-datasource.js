// Create or edit a datasource: PUT /datasource/<id> with {"jdbc": {...}} or {"sql": {...}}.
// The password field is write-only: it starts empty, and empty means "keep the stored one".
import { ApiError, datasourcePath, get, post, put } from "./api.js";
import { card, fill, h } from "./dom.js";
import { field, FormErrors } from "./forms.js";
import { flash, pageHeader } from "./ui.js";
import { connection, kind } from "./page-datasources.js";

const ID_PATTERN = "[A-Za-z0-9][A-Za-z0-9_.\\-]{0,127}";

export async function datasourceForm(ctx, id) {
  const editing = id !== null;
  const doc = editing ? await get(datasourcePath(id)) : null;
  if (!ctx.alive()) return;
  const source = doc ? doc._source : { jdbc: {} };
  const conn = connection(source);

  const idField = field("id", "Id", {
    value: id || "",
    required: true,
    placeholder: "e.g. warehouse",
    attrs: editing ? { readOnly: true } : { pattern: ID_PATTERN },
  });
  const f = {
    kind: field("kind", "Kind", {
      kind: "select",
      value: kind(source),
      options: [
        ["jdbc", "JDBC URL (jdbc:postgresql://…, jdbc:mysql://…, jdbc:sqlite:…)"],
        ["sql", "SQLAlchemy URL (postgresql+psycopg://…)"],
      ],
    }),
    url: field("url", "URL", { value: conn.url, required: true, wide: true, placeholder: "jdbc:postgresql://db.example:5432/sales" }),
    driver: field("driver", "Driver class", { value: conn.driver, placeholder: "org.postgresql.Driver", help: "JDBC only; accepted and ignored." }),
    username: field("username", "User", { value: conn.username, attrs: { autocomplete: "off" } }),
    password: field("password", "Password", {
      kind: "password",
      attrs: { autocomplete: "new-password" },
      placeholder: editing ? "unchanged — write-only" : "",
      help: editing
        ? "Leave empty to keep the stored password (kept only while host, port, database and user stay the same)."
        : "Stored encrypted; never shown again.",
    }),
    timezone: field("timezone", "Time zone", { value: conn.timezone, placeholder: "UTC", help: "For timestamps without a time zone; IANA name." }),
    properties: field("properties", "Properties (JSON object)", {
      kind: "json",
      value: conn.properties && Object.keys(conn.properties).length ? conn.properties : "",
      rows: 3,
      placeholder: '{"sslmode": "require"}',
      help: "Driver options; those that loosen the read-only session are refused.",
    }),
    description: field("description", "Description", { value: source.description, wide: true }),
  };
  const errors = new FormErrors([idField, ...Object.values(f)], { strip: ["$.jdbc.", "$.sql.", "$."] });
  const showDriver = () => {
    f.driver.el.hidden = f.kind.input.value !== "jdbc";
  };
  f.kind.input.addEventListener("change", showDriver);
  showDriver();

  const check = h("div.validation", { "aria-live": "polite" });
  const body = (values) => {
    const spec = {};
    for (const key of ["url", "username", "password", "timezone", "properties"]) {
      if (values[key] !== undefined) spec[key] = values[key];
    }
    if (values.kind === "jdbc" && values.driver !== undefined) spec.driver = values.driver;
    const out = { [values.kind]: spec };
    if (values.description !== undefined) out.description = values.description;
    return out;
  };

  const checkButton = h("button", { type: "button" }, "Check connection");
  checkButton.addEventListener("click", async () => {
    const values = errors.collect();
    if (!values) return;
    checkButton.disabled = true;
    fill(check, h("p.muted.loading", "Connecting…"));
    try {
      // With a body, _validate checks that configuration without storing it (the id need not exist).
      const result = await post(`${datasourcePath(String(values.id || "unsaved"))}/_validate`, body(values));
      fill(check, h("div.notice.ok", { dataset: { valid: "true" } }, h("strong", "Connected. "), `${result.dialect} ${result.server_version || ""}, ${result.took} ms.`));
    } catch (ex) {
      if (!(ex instanceof ApiError)) throw ex;
      fill(check);
      errors.show(ex);
    } finally {
      checkButton.disabled = false;
    }
  });

  const submit = h("button.primary", { type: "submit" }, editing ? "Save changes" : "Create datasource");
  const form = h(
    "form.entity-form",
    {
      noValidate: true,
      onSubmit: async (event) => {
        event.preventDefault();
        const values = errors.collect();
        if (!values) return;
        const newId = editing ? id : String(values.id || "").trim();
        if (!newId) {
          idField.setError("required");
          idField.input.focus();
          return;
        }
        submit.disabled = true;
        try {
          const result = await put(datasourcePath(newId), body(values), editing ? { overwrite: "true" } : null);
          f.password.input.value = "";
          flash(`Datasource ${newId} ${result.result}.`, "success", { keep: true });
          ctx.navigate(`datasources/${encodeURIComponent(newId)}`);
        } catch (ex) {
          if (!(ex instanceof ApiError)) throw ex;
          if (ex.status === 409 && !editing) {
            idField.setError(`a datasource [${newId}] already exists`);
            idField.input.focus();
          } else {
            errors.show(ex);
          }
        } finally {
          submit.disabled = false;
        }
      },
    },
    errors.general,
    h("div.form-grid", idField.el, f.kind.el, f.url.el, f.driver.el, f.username.el, f.password.el, f.timezone.el, f.properties.el, f.description.el),
    check,
    h("div.actions.left", submit, checkButton, h("a.button", { href: editing ? `#/datasources/${encodeURIComponent(id)}` : "#/datasources" }, "Cancel")),
  );
  fill(
    ctx.main,
    pageHeader(editing ? h("span", "Edit datasource ", h("span.mono", id)) : "New datasource", { crumbs: [["Datasources", "#/datasources"]] }),
    card(null, form),
  );
  (editing ? f.url.input : idField.input).focus();
}
