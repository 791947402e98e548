// Form fields with a place for the API's errors: each `invalid[]` entry of a 400
// is shown beside the field it names (`$.ingest.target` → the target field).
import { ApiError } from "./api.js";
import { append, h } from "./dom.js";

/**
 * A labelled field. kind: text | number | password | textarea | json | select | checkbox.
 * Returns {el, input, name, setError(text), value()}.
 */
export function field(name, label, { kind = "text", value = "", help = null, options = [], placeholder = null, required = false, rows = 4, wide = false, attrs = {} } = {}) {
  const id = `f-${name}`;
  let input;
  if (kind === "textarea" || kind === "json") {
    input = h("textarea", { id, name, rows: String(rows), spellcheck: "false", placeholder, required, ...attrs });
    input.value = kind === "json" && value !== "" && value !== undefined && value !== null ? JSON.stringify(value, null, 2) : value || "";
  } else if (kind === "select") {
    input = h(
      "select",
      { id, name, required, ...attrs },
      options.map(([v, text]) => h("option", { value: v, selected: String(value) === v }, text)),
    );
  } else if (kind === "checkbox") {
    input = h("input", { id, name, type: "checkbox", checked: Boolean(value), ...attrs });
  } else {
    input = h("input", { id, name, type: kind, placeholder, required, spellcheck: "false", ...attrs });
    // A password field is write-only: it starts empty whatever is stored.
    if (kind !== "password") input.value = value === null || value === undefined ? "" : String(value);
  }
  const error = h("p.field-error", { id: `${id}-error`, role: "alert", dataset: { errorFor: name } });
  error.hidden = true;
  input.setAttribute("aria-describedby", `${id}-error`);
  const el =
    kind === "checkbox"
      ? h("div.field.check-field", { class: wide ? "wide" : "", dataset: { field: name } }, h("label.check", input, " ", label), help ? h("p.help", help) : null, error)
      : h(
          "div.field",
          { class: wide ? "wide" : "", dataset: { field: name } },
          h("label", { for: id }, label, required ? h("span.required", { title: "required" }, " *") : null),
          input,
          help ? h("p.help", help) : null,
          error,
        );
  return {
    el,
    input,
    name,
    kind,
    setError(text) {
      error.hidden = !text;
      error.textContent = text || "";
      el.classList.toggle("invalid", Boolean(text));
      input.setAttribute("aria-invalid", text ? "true" : "false");
    },
    /** The value to send: undefined when empty (so the API applies its default). */
    value() {
      if (kind === "checkbox") return input.checked;
      const raw = input.value;
      if (raw.trim() === "") return undefined;
      if (kind === "number") return Number(raw);
      if (kind === "json") return JSON.parse(raw); // SyntaxError: caught by collect()
      return raw;
    },
  };
}

/** A set of fields and a place for errors that name no field. */
export class FormErrors {
  constructor(fields, { strip = [] } = {}) {
    this.fields = new Map(fields.map((f) => [f.name, f]));
    this.strip = strip; // JSON path prefixes of the request body, e.g. "$.ingest."
    this.general = h("div.form-errors", { role: "alert" });
    this.general.hidden = true;
  }

  clear() {
    for (const f of this.fields.values()) f.setError(null);
    this.general.hidden = true;
    this.general.replaceChildren();
  }

  /** The field an `invalid[]` entry names (the first segment after the body's prefix), and the rest of its path. */
  fieldFor(entry) {
    let path = entry;
    for (const prefix of this.strip) {
      if (path.startsWith(prefix)) {
        path = path.slice(prefix.length);
        break;
      }
    }
    const name = path.split(/[.[]/)[0];
    return { target: this.fields.get(name) || null, path };
  }

  /** Show an ApiError: entries beside their fields, the rest (and the reason) above the form. */
  show(ex) {
    this.clear();
    const loose = [];
    const byField = new Map();
    for (const entry of ex.invalid || []) {
      const { target, path } = this.fieldFor(entry.entry);
      const text = entry.rules.map((r) => r.description).join("; ");
      if (target) {
        // A part of the field (transforms[0].output, properties.ssl) is named before the message.
        const where = path === target.name ? "" : `${path}: `;
        byField.set(target, [...(byField.get(target) || []), `${where}${text}`]);
      } else {
        loose.push(`${entry.entry}: ${text}`);
      }
    }
    for (const [target, texts] of byField) target.setError(texts.join(" · "));
    if (!byField.size || loose.length) {
      this.general.hidden = false;
      append(this.general, [
        h("p", ex instanceof ApiError ? ex.readable : String(ex.message || ex)),
        loose.length ? h("ul", loose.map((t) => h("li", t))) : null,
        ex.requestId ? h("p.request-id", `request ${ex.requestId}`) : null,
      ]);
    }
    const first = byField.size ? [...byField.keys()][0] : null;
    (first ? first.input : this.general).scrollIntoView({ block: "center", behavior: "instant" });
    if (first) first.input.focus();
  }

  /** Read every field; a JSON field that does not parse (or a field whose value() throws) is an error beside it (nothing is sent). */
  collect() {
    this.clear();
    const values = {};
    let ok = true;
    for (const f of this.fields.values()) {
      try {
        const value = f.value();
        if (value !== undefined) values[f.name] = value;
      } catch (ex) {
        // JSON.parse's SyntaxError, or a field's own reading of its text (a list of values).
        f.setError(ex instanceof SyntaxError ? `not valid JSON: ${ex.message}` : ex.message);
        ok = false;
      }
    }
    return ok ? values : null;
  }
}
