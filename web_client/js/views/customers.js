// Customers away from the till: find one by name or phone (or everyone who owes), see
// debt, prepaid balance and points, read the ledger, download a statement, register a
// customer; managers and owners also enter a repayment or a top-up that did not pass
// through a drawer (a bank transfer, a card at the office) and set credit limits.
// Cashiers take money at the till, where cash goes into their shift's drawer.

import { api } from "../api.js";
import { clear, dateTime, decimal, formDialog, h, modal, money, newKey, quantity, toCents, toast, toastError } from "../dom.js";
import { t } from "../i18n.js";

const CUSTOMERS = "/api/customers/customers/";

/** Register a customer with a name and a phone (`typed`, when it looks like one, is
 * offered); resolves to the new customer, or null. */
export function registerCustomer(typed) {
  const name = h("input", { id: "customer-name-new", required: true, maxlength: 200 });
  const phone = h("input", { id: "customer-phone-new", inputmode: "tel", value: /\d/.test(typed) ? typed : "" });
  return formDialog(
    t("till.new_customer"),
    [
      ["customer-name-new", t("till.customer_name"), name],
      ["customer-phone-new", t("till.customer_phone_label"), phone],
    ],
    ["customer-save", t("tasks.create")],
    () => api.post(CUSTOMERS, { name: name.value.trim(), phone: phone.value.trim() || null }),
  );
}

/**
 * The customer pays off debt (`action` "repay", the debt offered) or puts money on their
 * balance ("top-up"): a dialog with the amount and one more `field` ([id, label, input]);
 * `details()` adds to the request what that field says. One Idempotency-Key per dialog,
 * so a retry after a lost answer changes the account once. Resolves to the hub's answer
 * (balances after, and the ledger entry), or null.
 */
export function deskPayment(customer, action, field, details) {
  const repay = action === "repay";
  const amount = h("input", { id: "desk-amount", inputmode: "decimal", required: true, value: repay ? customer.debt : "" });
  const key = newKey();
  return formDialog(
    t(repay ? "till.repay_title" : "customers.top_up_title", { name: customer.name }),
    [["desk-amount", repay ? t("till.repay_amount", { debt: money(customer.debt) }) : t("customers.amount"), amount], field],
    ["desk-confirm", t(repay ? "till.repay" : "customers.top_up")],
    () => api.post(`${CUSTOMERS}${customer.id}/${action}/`, { amount: decimal(amount.value), ...details() }, { "Idempotency-Key": key }),
  );
}

export async function mountCustomers(root, ctx) {
  const view = new Customers(root, ctx);
  await view.start();
  return () => {};
}

class Customers {
  constructor(root, ctx) {
    this.root = root;
    this.registers = ctx.me.permissions.includes("customers.create");
    // Money with no drawer behind it leaves no cash trail: a manager's call.
    this.credit = ctx.me.permissions.includes("customers.credit");
  }

  async start() {
    const search = h("input", { id: "customers-search", type: "search", maxlength: 100, placeholder: t("customers.search"), "aria-label": t("customers.search") });
    const owing = h("input", { id: "customers-owing", type: "checkbox", onchange: () => this.load().catch((e) => toastError(e)) });
    clear(this.root).append(
      h(
        "div",
        { class: "stock" },
        h(
          "div",
          { class: "row" },
          h("h1", {}, t("customers.title")),
          this.registers ? h("button", { type: "button", class: "primary", id: "customer-add", onclick: () => this.register() }, t("till.new_customer")) : null,
        ),
        h(
          "form",
          { class: "row", onsubmit: (event) => (event.preventDefault(), this.load().catch((e) => toastError(e))) },
          search,
          h("label", { class: "check" }, owing, t("customers.owing")),
          h("button", { type: "submit", class: "secondary", id: "customers-find" }, t("till.find")),
        ),
        h("table", { class: "lines", id: "customers-table" }),
      ),
    );
    this.search = search;
    this.owing = owing;
    await this.load();
    search.focus();
  }

  async load() {
    const found = await api.get(CUSTOMERS, {
      search: this.search.value.trim() || undefined,
      has_debt: this.owing.checked ? "true" : undefined,
      is_active: "true",
      page_size: 50,
    });
    const heads = ["customers.name", "customers.debt", "customers.balance", "customers.bonus", ""];
    clear(this.root.querySelector("#customers-table")).append(
      h("thead", {}, h("tr", {}, heads.map((k) => h("th", {}, k ? t(k) : "")))),
      h(
        "tbody",
        {},
        found.results.length
          ? found.results.map((c) => this.row(c))
          : h("tr", {}, h("td", { colspan: heads.length, class: "muted empty" }, t("till.no_customer"))),
      ),
    );
  }

  row(customer) {
    const owes = toCents(customer.debt) > 0n;
    return h(
      "tr",
      { class: "customer-row", "data-customer": customer.id },
      h("td", {}, h("div", { class: "name" }, customer.name), h("small", { class: "muted" }, customer.phone || "")),
      h("td", { class: `num debt${owes ? " error" : ""}` }, money(customer.debt)),
      h("td", { class: "num balance" }, money(customer.balance)),
      h("td", { class: "num" }, quantity(customer.bonus)),
      h(
        "td",
        { class: "actions" },
        this.credit && owes ? h("button", { type: "button", class: "secondary repay", onclick: () => this.pay(customer, "repay") }, t("till.repay")) : null,
        this.credit ? h("button", { type: "button", class: "secondary top-up", onclick: () => this.pay(customer, "top-up") }, t("customers.top_up")) : null,
        h("button", { type: "button", class: "secondary history", onclick: () => this.history(customer).catch((e) => toastError(e)) }, t("customers.history")),
        h("button", { type: "button", class: "secondary statement", onclick: () => this.statement(customer).catch((e) => toastError(e)) }, t("customers.statement")),
        this.credit ? h("button", { type: "button", class: "secondary limit", onclick: () => this.limit(customer) }, t("customers.credit_limit")) : null,
      ),
    );
  }

  /** A repayment or a top-up taken away from a till (a transfer, a card at the office):
   * no drawer moves. */
  async pay(customer, action) {
    const reference = h("input", { id: "desk-reference", maxlength: 100, placeholder: t("customers.reference_hint") });
    const done = await deskPayment(customer, action, ["desk-reference", t("customers.reference"), reference], () => ({
      reference: reference.value.trim(),
    }));
    if (!done) return;
    toast(t("customers.saved", { name: customer.name, debt: money(done.debt), balance: money(done.balance) }));
    await this.load();
  }

  async history(customer) {
    const ledger = await api.get(`${CUSTOMERS}${customer.id}/ledger/`, { page_size: 20 });
    await modal(t("customers.history_title", { name: customer.name }), (close) =>
      h(
        "div",
        {},
        h(
          "table",
          { class: "lines", id: "ledger-table" },
          h("thead", {}, h("tr", {}, ["customers.when", "customers.kind", "customers.amount", "customers.debt", "customers.balance"].map((k) => h("th", {}, t(k))))),
          h(
            "tbody",
            {},
            ledger.results.length
              ? ledger.results.map((e) =>
                  h(
                    "tr",
                    { class: "ledger-row", "data-kind": e.kind },
                    h("td", {}, dateTime(e.created_at)),
                    h("td", {}, t(`ledger.${e.kind}`), e.reference ? h("small", { class: "muted" }, ` ${e.reference}`) : null),
                    h("td", { class: "num" }, e.account === "bonus" ? quantity(e.amount) : money(e.amount)),
                    h("td", { class: "num" }, money(e.debt_after)),
                    h("td", { class: "num" }, money(e.balance_after)),
                  ),
                )
              : h("tr", {}, h("td", { colspan: 5, class: "muted empty" }, t("customers.no_history"))),
          ),
        ),
        h("button", { type: "button", class: "secondary", id: "ledger-close", onclick: () => close(null) }, t("close")),
      ),
    );
  }

  /** This month's statement as a spreadsheet (the API wants the bearer token, so the
   * file is fetched and handed to the browser as a download). */
  async statement(customer) {
    const file = await api.get(`${CUSTOMERS}${customer.id}/statement/`, { format: "xlsx" });
    const link = h("a", { href: URL.createObjectURL(file), download: `statement-${customer.name}.xlsx` });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(link.href), 10_000);
  }

  async limit(customer) {
    const limit = h("input", { id: "credit-limit", inputmode: "decimal", required: true, value: customer.credit_limit });
    const done = await formDialog(
      t("customers.credit_limit_title", { name: customer.name }),
      [["credit-limit", t("customers.credit_limit"), limit]],
      ["credit-limit-save", t("save")],
      () => api.patch(`${CUSTOMERS}${customer.id}/`, { credit_limit: decimal(limit.value) }),
    );
    if (!done) return;
    toast(t("customers.limit_saved", { name: done.name, limit: money(done.credit_limit) }));
    await this.load();
  }

  async register() {
    const made = await registerCustomer("");
    if (!made) return;
    toast(t("stock.created", { name: made.name }));
    this.search.value = made.name;
    await this.load();
  }
}
