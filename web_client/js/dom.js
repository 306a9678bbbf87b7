// Small DOM helpers: elements from a tag, attributes and children; toasts; money as
// exact decimal strings (the hub computes every total; the till only adds up what the
// customer hands over, in whole cents, with BigInt).

import { errorText } from "./i18n.js";

export function h(tag, attrs = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on") && typeof value === "function") {
      element.addEventListener(name.slice(2).toLowerCase(), value);
    } else if (name === "dataset") {
      Object.assign(element.dataset, value);
    } else if (value === true) {
      element.setAttribute(name, "");
    } else {
      element.setAttribute(name, String(value));
    }
  }
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return element;
}

export function clear(element) {
  element.replaceChildren();
  return element;
}

export function toast(message, kind = "info") {
  let box = document.getElementById("toasts");
  if (!box) {
    box = h("div", { id: "toasts", role: "status", "aria-live": "polite" });
    document.body.append(box);
  }
  const note = h("div", { class: `toast toast-${kind}` }, message);
  box.append(note);
  setTimeout(() => note.remove(), kind === "error" ? 6000 : 3500);
}

/** A refusal (a hub error, or anything thrown) as an error toast in the user's language. */
export function toastError(failure, context = "") {
  toast(errorText(failure, context), "error");
}

/** "12.50" → 1250n; accepts "12", "12.5", "12,50", "1 586,96". */
export function toCents(text) {
  const clean = decimal(String(text ?? ""));
  if (!/^-?\d+(\.\d{0,2})?$/.test(clean)) return null;
  const negative = clean.startsWith("-");
  const [whole, fraction = ""] = clean.replace("-", "").split(".");
  const cents = BigInt(whole) * 100n + BigInt((fraction + "00").slice(0, 2));
  return negative ? -cents : cents;
}

export function fromCents(cents) {
  const negative = cents < 0n;
  const abs = negative ? -cents : cents;
  const text = `${abs / 100n}.${String(abs % 100n).padStart(2, "0")}`;
  return negative ? `-${text}` : text;
}

export function money(text) {
  if (text === null || text === undefined) return "—";
  const cents = toCents(text);
  if (cents === null) return String(text);
  const [whole, fraction] = fromCents(cents).split(".");
  return `${whole.replace(/\B(?=(\d{3})+(?!\d))/g, "\u202f")}.${fraction}`;
}

/** A percent (the hub keeps two decimals) printed as money is: "12.5" → "12.50",
 * "10" → "10.00"; no thousands separator (a percent has no thousands). */
export function percent(text) {
  if (text === null || text === undefined || text === "") return "";
  const hundredths = toCents(text);
  return hundredths === null ? String(text) : fromCents(hundredths);
}

/** "2.000" → "2", "1.250" → "1.25", "10" → "10": trailing zeros of the fraction only. */
export function quantity(text) {
  const value = String(text);
  return value.includes(".") ? value.replace(/0+$/, "").replace(/\.$/, "") : value;
}

/** Quantities (three decimals) as whole thousandths, for +1 / −1 without floats. */
export function toThousandths(text) {
  const [whole, fraction = ""] = String(text).split(".");
  return BigInt(whole) * 1000n + BigInt((fraction + "000").slice(0, 3));
}

export function fromThousandths(value) {
  return `${value / 1000n}.${String(value % 1000n).padStart(3, "0")}`;
}

export function newKey() {
  return crypto.randomUUID ? crypto.randomUUID() : `${Date.now()}-${Math.random()}`.replace(".", "");
}

/** The time of day of `iso`; in `timeZone` (a shop's) when given, else the browser's. */
export function time(iso, timeZone = undefined) {
  return iso ? new Date(iso).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", timeZone }) : "";
}

export function dateTime(iso) {
  return iso ? new Date(iso).toLocaleString([], { dateStyle: "short", timeStyle: "short" }) : "";
}

/** A modal dialog; resolves with what `build(close)` passes to close(), or null. */
export function modal(title, build) {
  return new Promise((resolve) => {
    const dialog = h("dialog", { class: "modal" });
    const close = (value = null) => {
      dialog.close();
      dialog.remove();
      resolve(value);
    };
    dialog.append(
      h("header", {}, h("h2", {}, title), h("button", { class: "icon", type: "button", "aria-label": "×", onclick: () => close(null) }, "×")),
      build(close),
    );
    dialog.addEventListener("cancel", (event) => {
      event.preventDefault();
      close(null);
    });
    document.body.append(dialog);
    dialog.showModal();
    const first = dialog.querySelector("input, select, textarea, button.primary");
    if (first) first.focus();
  });
}

/** A typed decimal as the hub reads it: "12,5 " → "12.5", "1 586,96" → "1586.96". Spaces
 * (the no-break ones the client itself prints money with too) separate thousands. */
export function decimal(text) {
  return text.replace(/\s/g, "").replace(",", ".");
}

/** A dialog with labelled fields; `submit()` resolves with what the dialog returns, and
 * a refusal stays on screen with the fields the hub named. */
export function formDialog(title, fields, [buttonId, buttonLabel], submit, context = "") {
  return modal(title, (close) => {
    const error = h("p", { class: "error", role: "alert" });
    return h(
      "form",
      {
        onsubmit: async (event) => {
          event.preventDefault();
          try {
            close(await submit());
          } catch (failure) {
            error.textContent = errorText(failure, context);
          }
        },
      },
      fields.map(([id, label, input]) => [h("label", { for: id }, label), input]),
      h("button", { type: "submit", class: "primary", id: buttonId }, buttonLabel),
      error,
    );
  });
}
