// The till's dialogs: a value asked for, the payment (tenders and change), a return
// against a receipt, and closing the shift. Each resolves with what the hub answered, or
// null when dismissed.

import { api } from "../api.js";
import { clear, decimal, formDialog, fromCents, h, modal, money, newKey, quantity, toCents, toThousandths } from "../dom.js";
import { errorText, t } from "../i18n.js";

/** One decimal asked for (a discount, points), as the hub reads it; null if dismissed. */
export function askValue(title, label, value) {
  const input = h("input", { id: "ask-value", inputmode: "decimal", value });
  return formDialog(title, [["ask-value", label, input]], ["ask-ok", t("ok")], async () => decimal(input.value));
}

/** What the discount dialog typed: {} (none), {percent} or {amount}, as the hub reads
 * them. The shape is checked here so a wrong one is corrected before it is sent. */
function typedDiscount(kind, typed) {
  let value = decimal(typed);
  if (kind === "percent") value = value.replace(/%$/, "");
  if (value === "") return {};
  if (/^\d+\.\d{3,}$/.test(value)) throw new Error(t("discount.decimals"));
  if (kind === "amount") {
    if (!/^\d+(\.\d{1,2})?$/.test(value)) throw new Error(t("discount.amount"));
    return { amount: fromCents(toCents(value)) };
  }
  if (!/^\d+(\.\d{1,2})?$/.test(value) || Number(value) > 100) throw new Error(t("discount.range"));
  return { percent: value };
}

/**
 * A line's or the receipt's discount, as a percent or an amount (`current` has the
 * `discount_percent` and `discount_amount` it carries now). `send(discount)` asks the hub
 * and resolves to {data} or {error}; a refusal (e.g. more than the line is worth) stays
 * in the dialog in the user's language. Resolves with what was applied, or null.
 */
export function discountDialog(title, current, send) {
  return modal(title, (close) => {
    let kind = current.discount_amount ? "amount" : "percent";
    const shown = { percent: current.discount_percent || "", amount: current.discount_amount || "" };
    const input = h("input", { id: "ask-value", inputmode: "decimal", value: shown[kind] });
    const label = h("label", { for: "ask-value" }, t(`till.${kind}`));
    const error = h("p", { class: "error", role: "alert" });
    // The dialog focuses its first field, the choice; the cashier types the value first.
    setTimeout(() => input.select(), 0);
    const choice = (value) =>
      h(
        "label",
        { class: "check" },
        h("input", {
          type: "radio",
          name: "discount-kind",
          id: `discount-${value}`,
          value,
          checked: value === kind,
          onchange: () => {
            shown[kind] = input.value;
            kind = value;
            input.value = shown[kind];
            label.textContent = t(`till.${kind}`);
            error.textContent = "";
            input.focus();
          },
        }),
        t(`till.by_${value}`),
      );
    return h(
      "form",
      {
        class: "discount",
        onsubmit: async (event) => {
          event.preventDefault();
          try {
            const discount = typedDiscount(kind, input.value);
            const { error: refused } = await send(discount);
            if (refused) throw refused;
            close(discount);
          } catch (failure) {
            error.textContent = errorText(failure, "discount");
          }
        },
      },
      h("fieldset", { class: "row kind", id: "discount-kind" }, h("legend", { class: "muted" }, t("till.discount_kind")), choice("percent"), choice("amount")),
      label,
      input,
      h("button", { type: "submit", class: "primary", id: "ask-ok" }, t("ok")),
      error,
    );
  });
}

/** The payments for `cart.pay`, or null. Cash is what the customer hands over. */
export function payDialog(cart) {
  const due = toCents(cart.to_pay);
  return modal(t("pay.title", { amount: money(cart.to_pay) }), (close) => {
    const methods = ["cash", "card", ...(cart.customer ? ["credit", "balance"] : [])];
    const inputs = {};
    const change = h("output", { id: "change" }, money("0"));
    const error = h("p", { class: "error", role: "alert" });
    const confirm = h("button", { type: "submit", class: "primary big", id: "pay-confirm" }, t("pay.confirm"));
    // Until the cashier types the cash given, it is what is left after the other tenders.
    let cashTyped = false;
    const followRest = () => {
      if (cashTyped) return;
      let others = 0n;
      for (const method of methods.slice(1)) others += toCents(inputs[method].value || "0") ?? 0n;
      inputs.cash.value = fromCents(due - others > 0n ? due - others : 0n);
    };
    const recount = () => {
      let others = 0n;
      for (const method of methods.slice(1)) others += toCents(inputs[method].value || "0") ?? 0n;
      const cash = toCents(inputs.cash.value || "0");
      if (cash === null || [...methods.slice(1)].some((m) => toCents(inputs[m].value || "0") === null)) {
        error.textContent = t("pay.bad_amount");
        confirm.disabled = true;
        return null;
      }
      const left = due - others;
      if (left < 0n) {
        error.textContent = t("pay.too_much");
        confirm.disabled = true;
        return null;
      }
      if (cash < left) {
        error.textContent = t("pay.short", { amount: money(fromCents(left - cash)) });
        confirm.disabled = true;
        return null;
      }
      error.textContent = "";
      confirm.disabled = false;
      change.textContent = money(fromCents(cash - left));
      return { cash, others };
    };
    for (const method of methods) {
      const typed = method === "cash" ? () => ((cashTyped = true), recount()) : () => (followRest(), recount());
      inputs[method] = h("input", { id: `pay-${method}`, inputmode: "decimal", value: method === "cash" ? fromCents(due) : "", oninput: typed });
    }
    const everything = (method) => {
      for (const m of methods) inputs[m].value = m === method ? fromCents(due) : "";
      cashTyped = method === "cash";
      followRest();
      recount();
    };
    const quick = [due, ...[100n, 500n, 1000n, 5000n].map((note) => ((due + note * 100n - 1n) / (note * 100n)) * note * 100n)]
      .filter((value, index, all) => all.indexOf(value) === index);
    return h(
      "form",
      {
        class: "pay",
        onsubmit: (event) => {
          event.preventDefault();
          const counted = recount();
          if (!counted) return;
          const payments = [];
          for (const method of methods.slice(1)) {
            const cents = toCents(inputs[method].value || "0");
            if (cents > 0n) payments.push({ method, amount: fromCents(cents) });
          }
          // Nothing left to pay (a 100 % discount, points for everything): no payments at all.
          if (counted.cash > 0n) payments.unshift({ method: "cash", amount: fromCents(counted.cash) });
          close(payments);
        },
      },
      h("div", { class: "row" }, methods.map((m) => h("button", { type: "button", class: "secondary", id: `all-${m}`, onclick: () => everything(m) }, t(`method.${m}`)))),
      methods.map((m) => h("label", { class: "pay-line" }, h("span", {}, t(m === "cash" ? "pay.cash_given" : `method.${m}`)), inputs[m])),
      h("div", { class: "row quick" }, quick.map((cents) => h("button", { type: "button", class: "secondary", onclick: () => ((inputs.cash.value = fromCents(cents)), (cashTyped = true), recount()) }, money(fromCents(cents))))),
      h("div", { class: "total-row change" }, h("span", {}, t("receipt.change")), change),
      error,
      confirm,
    );
  });
}

export function returnDialog(me, registers, register, shift) {
  return modal(t("return.title"), (close) => {
    const number = h("input", { id: "return-number", inputmode: "numeric", placeholder: t("return.number") });
    // The receipt may come from any till of the shop: numbers are per till.
    const till = h(
      "select",
      { id: "return-register", "aria-label": t("return.register") },
      registers
        .filter((r) => r.shop === register.shop)
        .map((r) => h("option", { value: r.id, selected: r.id === register.id }, r.name)),
    );
    const body = h("div", { class: "return-sale" });
    const error = h("p", { class: "error", role: "alert" });
    const find = async (event) => {
      event.preventDefault();
      error.textContent = "";
      let found;
      try {
        found = await api.get("/api/sales/sales/", { cash_register: till.value, number: number.value.trim() });
      } catch (failure) {
        error.textContent = errorText(failure);
        return;
      }
      clear(body);
      const sale = found.results[0];
      if (!sale) {
        error.textContent = t("return.not_found");
        return;
      }
      // One key for this sale's return, however often the button is pressed or the
      // request retried: the hub makes one return of it.
      const key = newKey();
      const quantities = sale.items.map((item) => h("input", { class: "return-qty", inputmode: "decimal", value: "0", "data-product": item.product, "aria-label": item.name }));
      const pin = me.permissions.includes("sales.return") ? null : h("input", { id: "return-pin", type: "password", inputmode: "numeric", autocomplete: "off" });
      const confirm = h(
        "button",
        {
          type: "button",
          class: "primary",
          id: "return-confirm",
          onclick: async () => {
            const items = sale.items
              .map((item, i) => ({ product: item.product, quantity: decimal(quantities[i].value) }))
              .filter((item) => /^\d+(\.\d{0,3})?$/.test(item.quantity) && toThousandths(item.quantity) > 0n);
            if (!items.length) {
              error.textContent = t("return.nothing");
              return;
            }
            confirm.disabled = true;
            try {
              const request = { sale: sale.id, items, session: shift.id };
              if (pin) request.manager_pin = pin.value;
              close(await api.post("/api/sales/returns/", request, { "Idempotency-Key": key }));
            } catch (failure) {
              error.textContent = errorText(failure, "return");
              confirm.disabled = false;
            }
          },
        },
        t("return.confirm"),
      );
      body.append(
        h("table", { class: "lines" }, h("tbody", {}, sale.items.map((item, i) => h("tr", {}, h("td", {}, item.name), h("td", { class: "num" }, `${quantity(item.quantity)} × ${money(item.price)}`), h("td", {}, quantities[i]))))),
        ...(pin ? [h("label", { for: "return-pin" }, t("return.manager_pin")), pin] : []),
        confirm,
      );
    };
    return h(
      "div",
      {},
      h("form", { class: "row", onsubmit: find }, till, number, h("button", { type: "submit", class: "secondary", id: "return-find" }, t("till.find"))),
      body,
      error,
    );
  });
}

/** `sending()` runs just before the close is sent (the till then knows its cart's
 * expiry is its own doing). */
export function closeShiftDialog(shift, sending = () => {}) {
  const counted = h("input", { id: "closing-cash", inputmode: "decimal", required: true });
  return formDialog(
    t("till.close_shift"),
    [["closing-cash", t("till.counted_cash"), counted]],
    ["close-shift-confirm", t("till.close_shift")],
    () => {
      sending();
      return api.post(`/api/sales/sessions/${shift.id}/close/`, { closing_cash: decimal(counted.value) });
    },
  );
}
