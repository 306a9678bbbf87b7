// The till: pick a cash register, open its shift, then sell. The cart lives on the hub
// (docs/protocol.md, Live carts): every change is a `cart.*` request naming the version
// it was made on, and the cart's channel brings changes made elsewhere (an edge agent's
// scanner, a second screen). Payments, the receipt, returns and closing the shift.

import { api } from "../api.js";
import {
  clear,
  decimal,
  formDialog,
  fromThousandths,
  h,
  modal,
  money,
  newKey,
  percent,
  quantity,
  time,
  toast,
  toastError,
  toCents,
  toThousandths,
} from "../dom.js";
import { channels } from "../hub.js";
import { errorText, t } from "../i18n.js";
import { cameraScan } from "./camera.js";
import { deskPayment, registerCustomer } from "./customers.js";
import { askValue, closeShiftDialog, discountDialog, payDialog, returnDialog } from "./till_dialogs.js";

const REGISTER_KEY = "pos.register";
const BARCODE = /^\d{6,14}$/;
const SEARCH_MAX = 300; // a product name's longest: the search accepts as much

export async function mountTill(root, ctx) {
  const till = new Till(root, ctx);
  await till.start();
  return () => till.stop();
}

class Till {
  constructor(root, ctx) {
    this.root = root;
    this.ctx = ctx;
    this.register = null;
    this.zone = null; // the register's shop's time zone: receipts and reports tell its time
    this.shift = null;
    this.cart = null;
    this.receipt = null;
    this.payKey = null;
    this.closing = null; // the cart this till itself is cancelling or expiring
    this.leaveCart = () => {};
    this.queue = Promise.resolve(); // cart changes go one at a time, in order
    this.onKey = (event) => this.refocus(event);
  }

  async start() {
    document.addEventListener("keydown", this.onKey);
    const found = await api.get("/api/sales/cash-registers/", { is_active: true, page_size: 200 });
    this.registers = found.results;
    const chosen = localStorage.getItem(REGISTER_KEY);
    this.register = this.registers.find((r) => r.id === chosen) || null;
    if (!this.register) return this.pickRegister();
    return this.loadShift();
  }

  stop() {
    document.removeEventListener("keydown", this.onKey);
    this.leaveCart();
  }

  // A keyboard-wedge scanner types into whatever has focus: keys pressed outside a
  // field go to the scan box.
  refocus(event) {
    const scan = this.root.querySelector("#scan");
    if (!scan || document.querySelector("dialog[open]")) return;
    const typing = ["INPUT", "TEXTAREA", "SELECT"].includes(document.activeElement?.tagName);
    if (!typing && event.key.length === 1 && !event.ctrlKey && !event.metaKey && !event.altKey) {
      scan.focus();
    }
  }

  pickRegister() {
    clear(this.root).append(
      h(
        "section",
        { class: "card narrow" },
        h("h1", {}, t("till.pick_register")),
        this.registers.length
          ? h(
              "div",
              { class: "choices" },
              this.registers.map((register) =>
                h(
                  "button",
                  {
                    type: "button",
                    class: "choice",
                    "data-register": register.id,
                    onclick: () => {
                      localStorage.setItem(REGISTER_KEY, register.id);
                      this.register = register;
                      this.loadShift().catch((failure) => toastError(failure));
                    },
                  },
                  register.name,
                ),
              ),
            )
          : h("p", { class: "muted" }, t("till.no_registers")),
      ),
    );
  }

  async loadShift() {
    const [open, shop] = await Promise.all([
      api.get("/api/sales/sessions/", { cash_register: this.register.id, status: "open" }),
      api.get(`/api/core/shops/${this.register.shop}/`),
    ]);
    this.zone = shop.timezone;
    this.shift = open.results[0] || null;
    if (!this.shift) return this.openShiftForm();
    try {
      return await this.openCart();
    } catch (failure) {
      // e.g. another cashier's shift is open on this till
      return this.blocked(errorText(failure));
    }
  }

  blocked(message) {
    clear(this.root).append(
      h(
        "section",
        { class: "card narrow", id: "till-blocked" },
        h("h1", {}, this.register.name),
        h("p", { class: "error" }, message),
        h("button", { type: "button", class: "primary", onclick: () => this.changeRegister() }, t("till.other_register")),
      ),
    );
  }

  openShiftForm() {
    const cash = h("input", { id: "opening-cash", inputmode: "decimal", value: "0.00", required: true });
    const error = h("p", { class: "error", role: "alert" });
    clear(this.root).append(
      h(
        "form",
        {
          class: "card narrow",
          onsubmit: async (event) => {
            event.preventDefault();
            try {
              this.shift = await api.post("/api/sales/sessions/", {
                cash_register: this.register.id,
                opening_cash: decimal(cash.value),
              });
              await this.openCart();
            } catch (failure) {
              error.textContent = errorText(failure);
            }
          },
        },
        h("h1", {}, `${this.register.name}: ${t("till.shift_closed")}`),
        h("label", { for: "opening-cash" }, t("till.opening_cash")),
        cash,
        h("button", { type: "submit", class: "primary", id: "open-shift" }, t("till.open_shift")),
        h("button", { type: "button", class: "secondary", onclick: () => this.changeRegister() }, t("till.other_register")),
        error,
      ),
    );
    cash.select();
  }

  changeRegister() {
    localStorage.removeItem(REGISTER_KEY);
    this.leaveCart();
    this.register = null;
    this.pickRegister();
  }

  async openCart() {
    const data = await this.ctx.hub.request("cart.open", { session: this.shift.id });
    this.setCart(data.cart);
    this.receipt = null;
    this.layout();
    this.render();
  }

  setCart(cart) {
    if (!this.cart || this.cart.id !== cart.id) {
      this.accounts = null; // a sale may have changed them: read afresh for the next cart
      this.leaveCart();
      const name = channels.cart(this.ctx.tenant, cart.shop, cart.id);
      let left = false;
      const subscribed = this.ctx.hub.subscribe(
        name,
        (type, payload) => this.onCartEvent(type, payload),
        () => this.reloadCart(),
      );
      this.leaveCart = () => {
        if (left) return;
        left = true;
        subscribed.then((leave) => leave()).catch(() => {});
      };
    }
    this.cart = cart;
  }

  onCartEvent(type, cart) {
    if (!this.cart || cart.id !== this.cart.id || cart.version <= this.cart.version) return;
    this.cart = cart;
    if (type === "cart.closed" && cart.status !== "paid") {
      // Its event may come before the reply: a close this till asked for (cancel, closing
      // the shift) goes on where it was asked. One from elsewhere (another screen, the
      // idle expiry, the shift closed elsewhere) is news: say so, then the shift as it is.
      if (cart.id === this.closing) return;
      toast(t("till.cart_closed", { status: t(`cart.status.${cart.status}`) }), "error");
      this.loadShift().catch((failure) => toastError(failure));
      return;
    }
    if (!this.receipt) this.render();
  }

  async reloadCart() {
    const data = await this.ctx.hub.request("cart.get", { cart: this.cart.id });
    this.cart = data.cart;
    if (!this.receipt) this.render();
  }

  /**
   * A change to the cart, queued behind the ones before it. `intent` is the payload, or
   * a function of the cart as it is when the change is sent (so +1 counts from the
   * latest quantity). A stale version (another screen changed the cart) re-applies the
   * intent once on the current cart, except for a payment: that is never re-sent on a
   * cart the cashier did not see. Resolves to {data} or {error}; a refusal is toasted
   * unless `quiet` (the caller's dialog tells it).
   */
  change(type, intent = {}, { quiet = false } = {}) {
    const run = this.queue.then(() => this._change(type, intent, quiet));
    this.queue = run.catch(() => {});
    return run;
  }

  async _change(type, intent, quiet) {
    for (let attempt = 0; attempt < 2; attempt += 1) {
      const payload = typeof intent === "function" ? intent(this.cart) : intent;
      if (payload === null) return { error: null };
      try {
        const data = await this.ctx.hub.request(type, { cart: this.cart.id, version: this.cart.version, ...payload });
        this.cart = data.cart;
        if (!this.receipt) this.render();
        return { data };
      } catch (failure) {
        if (failure.data?.cart) this.cart = failure.data.cart;
        const retry = failure.code === "stale_version" && failure.data?.cart && attempt === 0 && type !== "cart.pay";
        if (retry) continue;
        if (failure.code === "stale_version" && type === "cart.pay") toast(t("pay.cart_changed"), "error");
        else if (!quiet && (failure.code !== "not_found" || type !== "cart.add")) toastError(failure);
        if (!this.receipt) this.render();
        return { error: failure };
      }
    }
    return { error: null };
  }

  async scanned(text) {
    const code = text.trim();
    if (!code) return;
    if (BARCODE.test(code)) {
      const { error } = await this.change("cart.add", { barcode: code, quantity: "1" });
      if (!error || error.code !== "not_found") return;
    }
    await this.search(code);
  }

  async search(text) {
    const results = this.root.querySelector("#search-results");
    let found;
    try {
      found = await api.get("/api/products/products/", { search: text.slice(0, SEARCH_MAX), is_active: true, page_size: 12 });
    } catch (failure) {
      toastError(failure);
      return;
    }
    clear(results);
    if (!found.results.length) {
      results.append(h("li", { class: "muted" }, t("till.nothing_found")));
      return;
    }
    for (const product of found.results) {
      results.append(
        h(
          "li",
          {},
          h(
            "button",
            {
              type: "button",
              class: "result",
              "data-product": product.id,
              onclick: async () => {
                clear(results);
                await this.change("cart.add", { product: product.id, quantity: "1" });
              },
            },
            h("span", {}, product.name),
            h("span", { class: "price" }, money(product.price)),
          ),
        ),
      );
    }
  }

  // The scan box and search results are built once per sale and never replaced, so a
  // scanner typing the next code while a change is on its way loses nothing; render()
  // redraws the cart around them.
  layout() {
    const scan = h("input", {
      id: "scan",
      autocomplete: "off",
      maxlength: SEARCH_MAX,
      placeholder: t("till.scan_placeholder"),
      "aria-label": t("till.scan_placeholder"),
      onkeydown: async (event) => {
        if (event.key !== "Enter") return;
        event.preventDefault();
        const text = scan.value;
        scan.value = "";
        await this.scanned(text);
      },
    });
    clear(this.root).append(
      h(
        "div",
        { class: "till" },
        h(
          "section",
          { class: "till-main" },
          h(
            "div",
            { class: "scan-row" },
            scan,
            h("button", { type: "button", id: "camera", class: "secondary", onclick: () => this.camera() }, t("till.camera")),
          ),
          h("ul", { id: "search-results", class: "results" }),
          h("div", { id: "cart-area" }),
        ),
        h("aside", { class: "till-side", id: "till-side" }),
      ),
    );
    scan.focus();
  }

  render() {
    if (!this.root.querySelector("#cart-area")) this.layout();
    const cart = this.cart;
    const lines = cart.lines.map((line) => this.lineRow(line));
    clear(this.root.querySelector("#cart-area")).append(
      h(
        "table",
        { id: "cart-lines", class: "lines" },
        h("thead", {}, h("tr", {}, ["till.item", "till.qty", "till.price", "till.total", ""].map((k) => h("th", {}, k ? t(k) : "")))),
        h("tbody", {}, lines.length ? lines : h("tr", {}, h("td", { colspan: 5, class: "muted empty" }, t("till.empty")))),
      ),
    );
    const side = this.root.querySelector("#till-side");
    const typing = side.contains(document.activeElement) && document.activeElement.tagName === "INPUT";
    if (!typing) clear(side).append(this.customerBox(), this.totalsBox(), this.actionsBox());
    else this.refreshSide(side);
  }

  // While the cashier types a customer's phone, only the totals and buttons change.
  refreshSide(side) {
    side.querySelector("#totals")?.replaceWith(this.totalsBox());
    side.querySelector(".actions")?.replaceWith(this.actionsBox());
  }

  lineRow(line) {
    const step = (delta) =>
      this.change("cart.set_quantity", (cart) => {
        const now = cart.lines.find((l) => l.product === line.product);
        if (!now) return null; // gone meanwhile
        const next = toThousandths(now.quantity) + delta;
        return { product: line.product, quantity: next > 0n ? fromThousandths(next) : "0" };
      });
    const discount = line.discount_percent
      ? `−${percent(line.discount_percent)}%`
      : line.discount_amount
        ? `−${money(line.discount_amount)}`
        : "";
    return h(
      "tr",
      { class: "line", "data-product": line.product },
      h("td", {}, h("div", { class: "name" }, line.name), discount ? h("small", { class: "discount" }, discount) : null),
      h(
        "td",
        { class: "qty" },
        h("button", { type: "button", class: "qty-minus", "aria-label": "−", onclick: () => step(-1000n) }, "−"),
        h("span", { class: "quantity" }, quantity(line.quantity)),
        h("button", { type: "button", class: "qty-plus", "aria-label": "+", onclick: () => step(1000n) }, "+"),
      ),
      h("td", { class: "num" }, money(line.price)),
      h("td", { class: "num line-total" }, money(line.total)),
      h(
        "td",
        { class: "line-actions" },
        h("button", { type: "button", class: "icon line-discount", title: t("till.line_discount"), onclick: () => this.lineDiscount(line) }, "%"),
        h("button", { type: "button", class: "icon line-remove", title: t("till.remove"), onclick: () => this.change("cart.remove", { product: line.product }) }, "×"),
      ),
    );
  }

  async lineDiscount(line) {
    await discountDialog(t("till.line_discount"), line, (discount) =>
      this.change("cart.discount_line", { product: line.product, ...discount }, { quiet: true }),
    );
  }

  customerBox() {
    const customer = this.cart.customer;
    if (customer) {
      // Debt, balance and points are read from the customer (the cart does not carry
      // them: a cart's channel reaches devices such as a customer display).
      const accounts = this.accounts?.id === customer.id ? this.accounts : null;
      if (!accounts) this.loadAccounts(customer.id);
      const owes = accounts && toCents(accounts.debt) > 0n;
      return h(
        "div",
        { class: "card customer", id: "customer" },
        h("strong", { id: "customer-name" }, customer.name),
        h("div", { class: "muted" }, customer.phone || ""),
        Number(customer.group_discount_percent) ? h("div", {}, t("till.group_discount", { percent: percent(customer.group_discount_percent) })) : null,
        accounts
          ? h(
              "div",
              { class: "accounts small" },
              owes ? h("span", { class: "error", id: "customer-debt" }, t("till.debt", { amount: money(accounts.debt) })) : null,
              toCents(accounts.balance) > 0n ? h("span", { id: "customer-balance" }, t("till.balance", { amount: money(accounts.balance) })) : null,
              toCents(accounts.bonus) > 0n ? h("span", { id: "customer-bonus" }, t("till.bonus_points", { points: quantity(accounts.bonus) })) : null,
            )
          : null,
        h(
          "div",
          { class: "row" },
          owes ? h("button", { type: "button", class: "secondary", id: "repay", onclick: () => this.deskPayment("repay") }, t("till.repay")) : null,
          h("button", { type: "button", class: "secondary", id: "top-up", onclick: () => this.deskPayment("top-up") }, t("customers.top_up")),
          h("button", { type: "button", class: "secondary", id: "bonus", onclick: () => this.redeemBonus() }, t("till.redeem_bonus")),
          h("button", { type: "button", class: "secondary", id: "customer-detach", onclick: () => this.change("cart.customer", { customer: null }) }, t("till.detach")),
        ),
      );
    }
    const phone = h("input", { id: "customer-phone", inputmode: "tel", maxlength: 100, placeholder: t("till.customer_phone") });
    const results = h("ul", { class: "results", id: "customer-results" });
    return h(
      "form",
      {
        class: "card customer",
        onsubmit: async (event) => {
          event.preventDefault();
          let found;
          try {
            found = await api.get("/api/customers/customers/", { search: phone.value.trim(), page_size: 8 });
          } catch (failure) {
            toastError(failure);
            return;
          }
          clear(results);
          if (!found.results.length) {
            results.append(
              h("li", { class: "muted" }, t("till.no_customer")),
              h(
                "li",
                {},
                h("button", { type: "button", class: "secondary", id: "customer-new", onclick: () => this.newCustomer(phone.value.trim()) }, t("till.new_customer")),
              ),
            );
          }
          for (const c of found.results) {
            results.append(
              h(
                "li",
                {},
                h(
                  "button",
                  { type: "button", class: "result", "data-customer": c.id, onclick: () => this.change("cart.customer", { customer: c.id }) },
                  h("span", {}, c.name),
                  h("span", { class: "muted" }, c.phone || ""),
                ),
              ),
            );
          }
        },
      },
      h("div", { class: "row" }, phone, h("button", { type: "submit", class: "secondary", id: "customer-find" }, t("till.find"))),
      results,
    );
  }

  /** Register the customer at the till (name and phone) and attach them to the cart. */
  async newCustomer(typed) {
    const made = await registerCustomer(typed);
    if (made) await this.change("cart.customer", { customer: made.id });
  }

  /** The attached customer's debt, balance and points; the side is drawn again with
   * them (unless another customer was attached meanwhile). */
  async loadAccounts(id) {
    if (this.loadingAccounts === id) return;
    this.loadingAccounts = id;
    try {
      const found = await api.get(`/api/customers/customers/${id}/`);
      if (this.cart?.customer?.id !== id) return;
      this.accounts = found;
      if (!this.receipt) this.render();
    } catch (failure) {
      this.accounts = { id }; // shown without figures; not asked again for this cart
      toastError(failure);
    } finally {
      this.loadingAccounts = null;
    }
  }

  /** The attached customer repays debt or tops up their balance, in cash into this
   * shift's drawer (its expected cash grows by it) or by card. */
  async deskPayment(action) {
    const customer = { ...this.cart.customer, ...this.accounts };
    const method = h(
      "select",
      { id: "desk-method" },
      ["cash", "card"].map((m) => h("option", { value: m }, t(`method.${m}`))),
    );
    const paid = await deskPayment(customer, action, ["desk-method", t("till.repay_method"), method], () => ({
      reference: method.value,
      ...(method.value === "cash" ? { session: this.shift.id } : {}),
    }));
    if (!paid) return;
    toast(t("customers.saved", { name: customer.name, debt: money(paid.debt), balance: money(paid.balance) }));
    this.accounts = { ...customer, debt: paid.debt, balance: paid.balance, bonus: paid.bonus };
    if (!this.receipt) this.render();
  }

  async redeemBonus() {
    const amount = await askValue(t("till.redeem_bonus"), t("till.points"), this.cart.bonus || "0");
    if (amount !== null) await this.change("cart.bonus", { amount: amount || "0" });
  }

  totalsBox() {
    const cart = this.cart;
    const row = (key, value, id) => h("div", { class: "total-row" }, h("span", {}, t(key)), h("span", { id }, money(value)));
    return h(
      "div",
      { class: "card totals", id: "totals" },
      row("till.subtotal", cart.subtotal, "subtotal"),
      toCents(cart.discount_total) ? row("till.discount", cart.discount_total, "discount-total") : null,
      toCents(cart.bonus) ? row("till.bonus", cart.bonus, "bonus-total") : null,
      h("div", { class: "total-row grand" }, h("span", {}, t("till.to_pay")), h("span", { id: "to-pay" }, money(cart.to_pay))),
    );
  }

  actionsBox() {
    const empty = !this.cart.lines.length;
    return h(
      "div",
      { class: "actions" },
      h("button", { type: "button", class: "primary big", id: "pay", disabled: empty, onclick: () => this.pay() }, t("till.pay")),
      h(
        "div",
        { class: "row" },
        h("button", { type: "button", class: "secondary", id: "receipt-discount", disabled: empty, onclick: () => this.receiptDiscount() }, t("till.receipt_discount")),
        h("button", { type: "button", class: "secondary", id: "cancel-cart", disabled: empty, onclick: () => this.cancelCart() }, t("till.cancel")),
      ),
      h(
        "div",
        { class: "row" },
        h("button", { type: "button", class: "secondary", id: "return", onclick: () => this.returnGoods() }, t("till.return")),
        h("button", { type: "button", class: "secondary", id: "close-shift", onclick: () => this.closeShift() }, t("till.close_shift")),
      ),
      h(
        "div",
        { class: "row" },
        h("button", { type: "button", class: "secondary", id: "cash-move", onclick: () => this.moveCash() }, t("till.cash_move")),
        h("button", { type: "button", class: "secondary", id: "x-report", onclick: () => this.xReport().catch((e) => toastError(e)) }, t("till.x_report")),
      ),
      h("div", { class: "muted small" }, `${this.register.name} · ${t("till.shift")} ${this.shift.number ?? ""}`),
    );
  }

  async receiptDiscount() {
    await discountDialog(t("till.receipt_discount"), this.cart, (discount) =>
      this.change("cart.discount", discount, { quiet: true }),
    );
  }

  async cancelCart() {
    this.closing = this.cart.id;
    const { data } = await this.change("cart.cancel");
    if (data) await this.openCart().catch((failure) => toastError(failure));
    this.closing = null;
  }

  async camera() {
    const code = await cameraScan();
    if (code) await this.change("cart.add", { barcode: code, quantity: "1" });
  }

  async pay() {
    const seen = this.cart.version; // the payment is for the cart on the screen, nothing else
    const payments = await payDialog(this.cart);
    if (!payments) return;
    this.payKey ??= newKey(); // kept until the sale is acknowledged: a retry is the same sale
    const { data, error } = await this.change("cart.pay", { payments, idempotency_key: this.payKey, version: seen });
    if (error?.code === "stale_version") this.payKey = null; // nothing was sold with it
    if (!data) return;
    this.payKey = null;
    this.receipt = { sale: data.sale, cart: data.cart };
    this.showReceipt();
  }

  showReceipt() {
    const { sale, cart } = this.receipt;
    clear(this.root).append(
      h(
        "section",
        { class: "card receipt", id: "receipt" },
        h("h1", {}, t("receipt.title", { number: sale.number })),
        h("div", { class: "muted", id: "receipt-when" }, `${this.register.name} · ${time(sale.created_at, this.zone)}`),
        h(
          "table",
          { class: "lines" },
          h("tbody", {}, cart.lines.map((line) => h("tr", {}, h("td", {}, line.name), h("td", { class: "num" }, `${quantity(line.quantity)} × ${money(line.price)}`), h("td", { class: "num" }, money(line.total))))),
        ),
        h("div", { class: "total-row grand" }, h("span", {}, t("receipt.total")), h("span", { id: "receipt-total" }, money(sale.total))),
        Object.entries(sale.payments).map(([method, amount]) => h("div", { class: "total-row" }, h("span", {}, t(`method.${method}`)), h("span", {}, money(amount)))),
        // What the customer handed over, when it was more than the cash part of the sale.
        toCents(sale.tendered_cash) > toCents(sale.payments.cash ?? "0")
          ? h("div", { class: "total-row" }, h("span", {}, t("pay.cash_given")), h("span", { id: "receipt-tendered" }, money(sale.tendered_cash)))
          : null,
        h("div", { class: "total-row change" }, h("span", {}, t("receipt.change")), h("span", { id: "receipt-change" }, money(sale.change))),
        h(
          "div",
          { class: "row" },
          h("button", { type: "button", class: "secondary", id: "print", onclick: () => window.print() }, t("receipt.print")),
          h("button", { type: "button", class: "primary", id: "new-sale", onclick: () => this.openCart() }, t("receipt.next")),
        ),
      ),
    );
    this.root.querySelector("#new-sale").focus();
  }

  async returnGoods() {
    const made = await returnDialog(this.ctx.me, this.registers, this.register, this.shift);
    if (made) toast(t("return.done", { number: made.number, total: money(made.refund_total) }));
  }

  /** Cash into the drawer (change brought in) or out of it (a pick-up to the safe),
   * with the reason; never more out than the drawer should hold. */
  async moveCash() {
    const kind = h("select", { id: "cash-kind" }, ["in", "out"].map((k) => h("option", { value: k }, t(`till.cash_${k}`))));
    const amount = h("input", { id: "cash-amount", inputmode: "decimal", required: true });
    const reason = h("input", { id: "cash-reason", required: true, maxlength: 500 });
    const moved = await formDialog(
      t("till.cash_move"),
      [
        ["cash-kind", t("till.cash_kind"), kind],
        ["cash-amount", t("customers.amount"), amount],
        ["cash-reason", t("stock.reason"), reason],
      ],
      ["cash-confirm", t("ok")],
      () => api.post(`/api/sales/sessions/${this.shift.id}/cash/`, { kind: kind.value, amount: decimal(amount.value), reason: reason.value.trim() }),
      "cash",
    );
    if (moved) toast(t("till.cash_moved", { expected: money(moved.expected_cash) }));
  }

  /** The shift so far: receipts, sales, returns, the cash the drawer should hold, and
   * every cash movement with its reason. */
  async xReport() {
    const [report, moves] = await Promise.all([
      api.get(`/api/sales/sessions/${this.shift.id}/x-report/`),
      api.get(`/api/sales/sessions/${this.shift.id}/cash/`),
    ]);
    const row = (key, value, id) => h("div", { class: "total-row" }, h("span", {}, t(key)), h("span", { id }, value));
    await modal(t("x.title", { number: report.number }), (close) =>
      h(
        "div",
        { id: "x-report-view" },
        row("z.receipts", report.receipts, "x-receipts"),
        row("z.sales", money(report.sales_total)),
        row("z.returns", money(report.returns_total)),
        row("till.cash_in", money(report.cash_in), "x-cash-in"),
        row("till.cash_out", money(report.cash_out), "x-cash-out"),
        row("z.expected", money(report.expected_cash), "x-expected"),
        moves.results.length
          ? h(
              "ul",
              { class: "results", id: "x-movements" },
              moves.results.map((m) =>
                h("li", {}, `${time(m.created_at, this.zone)} ${t(`till.cash_${m.kind}`)} ${money(m.amount)} · ${m.reason}`),
              ),
            )
          : null,
        h("button", { type: "button", class: "secondary", id: "x-close", onclick: () => close(null) }, t("close")),
      ),
    );
  }

  async closeShift() {
    // The shift's close expires its cart: that cart.closed is ours.
    const report = await closeShiftDialog(this.shift, () => (this.closing = this.cart?.id));
    if (!report) {
      this.closing = null;
      return;
    }
    this.leaveCart();
    this.cart = null;
    this.shift = null;
    clear(this.root).append(
      h(
        "section",
        { class: "card narrow", id: "z-report" },
        h("h1", {}, t("z.title", { number: report.number })),
        ...[
          ["z.receipts", report.receipts],
          ["z.sales", money(report.sales_total)],
          ["z.returns", money(report.returns_total)],
          ["z.expected", money(report.expected_cash)],
          ["z.counted", money(report.closing_cash)],
          ["z.difference", money(report.difference)],
        ].map(([key, value]) => h("div", { class: "total-row" }, h("span", {}, t(key)), h("span", {}, value))),
        h("button", { type: "button", class: "primary", onclick: () => this.openShiftForm() }, t("till.open_shift")),
      ),
    );
  }
}
