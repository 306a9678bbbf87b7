// Goods and stock for one shop: find a product (by name, or a scanned barcode), see what
// is on hand, reserved by live carts and available; receive goods as a batch (quantity,
// cost, batch number, expiry); count it (on hand becomes what was counted); write off
// damaged or lost goods; add a product. Stockkeepers, managers and owners change stock;
// everyone may look.

import { api } from "../api.js";
import { clear, decimal, formDialog, h, money, quantity, toast, toastError } from "../dom.js";
import { t } from "../i18n.js";

const SHOP_KEY = "pos.stock.shop";
const BARCODE = /^\d{6,14}$/;
const SEARCH_MAX = 300; // a product name's longest: the search accepts as much

export async function mountStock(root, ctx) {
  const view = new Stock(root, ctx);
  await view.start();
  return () => {};
}

class Stock {
  constructor(root, ctx) {
    this.root = root;
    this.manages = ctx.me.permissions.includes("stock.manage");
    this.catalogues = ctx.me.permissions.includes("catalogue.manage");
  }

  async start() {
    this.shops = (await api.get("/api/core/shops/", { is_active: true, page_size: 200 })).results;
    const saved = localStorage.getItem(SHOP_KEY);
    this.shop = this.shops.find((s) => s.id === saved) || this.shops[0];
    const search = h("input", { id: "stock-search", type: "search", maxlength: SEARCH_MAX, placeholder: t("stock.search"), "aria-label": t("stock.search") });
    clear(this.root).append(
      h(
        "div",
        { class: "stock" },
        h(
          "div",
          { class: "row" },
          h("h1", {}, t("stock.title")),
          h(
            "select",
            {
              id: "stock-shop",
              "aria-label": t("dashboard.shop"),
              onchange: (event) => {
                this.shop = this.shops.find((s) => s.id === event.target.value);
                localStorage.setItem(SHOP_KEY, this.shop.id);
                this.load(search.value);
              },
            },
            this.shops.map((s) => h("option", { value: s.id, selected: s.id === this.shop?.id }, s.name)),
          ),
          this.catalogues ? h("button", { type: "button", class: "primary", id: "new-product", onclick: () => this.newProduct() }, t("stock.new_product")) : null,
        ),
        h(
          "form",
          {
            class: "row",
            onsubmit: (event) => {
              event.preventDefault();
              this.load(search.value);
            },
          },
          search,
          h("button", { type: "submit", class: "secondary", id: "stock-find" }, t("till.find")),
        ),
        h("table", { class: "lines", id: "stock-table" }),
      ),
    );
    if (this.shop) await this.load("");
    search.focus();
  }

  /** The products found by `text`; a refusal is told and leaves the list as it was. */
  async load(text) {
    const term = text.trim().slice(0, SEARCH_MAX);
    const params = BARCODE.test(term) ? { barcode: term } : { search: term || undefined };
    let products, levels;
    try {
      products = (await api.get("/api/products/products/", { ...params, page_size: 50 })).results;
      levels = await Promise.all(
        products.map((p) => api.get("/api/products/stock/", { shop: this.shop.id, product: p.id })),
      );
    } catch (failure) {
      toastError(failure);
      return;
    }
    const table = clear(this.root.querySelector("#stock-table"));
    table.append(
      h("thead", {}, h("tr", {}, ["stock.product", "stock.price", "stock.on_hand", "stock.reserved", "stock.available", ""].map((k) => h("th", {}, k ? t(k) : "")))),
      h(
        "tbody",
        {},
        products.length
          ? products.map((product, i) => this.row(product, levels[i]))
          : h("tr", {}, h("td", { colspan: 6, class: "muted empty" }, t("till.nothing_found"))),
      ),
    );
  }

  row(product, level) {
    return h(
      "tr",
      { class: "stock-row", "data-product": product.id },
      h("td", {}, h("div", { class: "name" }, product.name), h("small", { class: "muted" }, product.barcodes.map((b) => b.code).join(", "))),
      h("td", { class: "num" }, money(product.price)),
      h("td", { class: "num on-hand" }, quantity(level.on_hand)),
      h("td", { class: "num" }, quantity(level.reserved)),
      h("td", { class: "num available" }, quantity(level.available)),
      h(
        "td",
        { class: "actions" },
        this.manages
          ? [
              h("button", { type: "button", class: "secondary receive", onclick: () => this.receive(product) }, t("stock.receive")),
              h("button", { type: "button", class: "secondary count", onclick: () => this.count(product, level) }, t("stock.count")),
              h("button", { type: "button", class: "secondary write-off", onclick: () => this.writeOff(product) }, t("stock.write_off")),
            ]
          : null,
      ),
    );
  }

  async count(product, level) {
    const counted = h("input", { id: "count-quantity", inputmode: "decimal", required: true, value: quantity(level.on_hand) });
    const reason = h("input", { id: "count-reason", maxlength: 500 });
    const done = await formDialog(
      t("stock.count_title", { name: product.name }),
      [
        ["count-quantity", t("stock.counted"), counted],
        ["count-reason", t("stock.reason"), reason],
      ],
      ["count-confirm", t("stock.count")],
      () =>
        api.post("/api/products/stock/adjustments/", {
          shop: this.shop.id,
          product: product.id,
          counted: decimal(counted.value),
          reason: reason.value.trim(),
        }),
    );
    if (!done) return;
    toast(t("stock.count_saved", { name: product.name, quantity: quantity(done.on_hand) }));
    await this.load(this.root.querySelector("#stock-search").value);
  }

  async writeOff(product) {
    const qty = h("input", { id: "write-off-quantity", inputmode: "decimal", required: true });
    const reason = h("input", { id: "write-off-reason", maxlength: 500, required: true });
    const done = await formDialog(
      t("stock.write_off_title", { name: product.name }),
      [
        ["write-off-quantity", t("stock.quantity"), qty],
        ["write-off-reason", t("stock.reason"), reason],
      ],
      ["write-off-confirm", t("stock.write_off")],
      () =>
        api.post("/api/products/stock/write-offs/", {
          shop: this.shop.id,
          product: product.id,
          quantity: decimal(qty.value),
          reason: reason.value.trim(),
        }),
    );
    if (!done) return;
    toast(t("stock.written_off", { name: product.name, quantity: quantity(decimal(qty.value)) }));
    await this.load(this.root.querySelector("#stock-search").value);
  }

  async receive(product) {
    const qty = h("input", { id: "receive-quantity", inputmode: "decimal", required: true });
    const cost = h("input", { id: "receive-cost", inputmode: "decimal", value: product.cost });
    const batch = h("input", { id: "receive-batch", maxlength: 64 });
    const expiry = h("input", { id: "receive-expiry", type: "date" });
    const done = await formDialog(
      t("stock.receive_title", { name: product.name }),
      [
        ["receive-quantity", t("stock.quantity"), qty],
        ["receive-cost", t("stock.cost"), cost],
        ["receive-batch", t("stock.batch"), batch],
        ["receive-expiry", t("stock.expiry"), expiry],
      ],
      ["receive-confirm", t("stock.receive")],
      () => {
        const body = {
          product: product.id,
          shop: this.shop.id,
          quantity: decimal(qty.value),
          cost: decimal(cost.value) || undefined,
          batch_number: batch.value.trim(),
        };
        if (expiry.value) body.expiry_date = expiry.value;
        return api.post("/api/products/batches/", body);
      },
    );
    if (!done) return;
    toast(t("stock.received", { quantity: quantity(done.quantity), name: product.name }));
    await this.load(this.root.querySelector("#stock-search").value);
  }

  async newProduct() {
    const name = h("input", { id: "product-name", required: true, maxlength: 300 });
    const price = h("input", { id: "product-price", inputmode: "decimal", required: true });
    const cost = h("input", { id: "product-cost", inputmode: "decimal", value: "0" });
    const barcode = h("input", { id: "product-barcode", inputmode: "numeric" });
    const unit = h("select", { id: "product-unit" }, ["piece", "kg", "l", "m"].map((u) => h("option", { value: u }, t(`unit.${u}`))));
    const made = await formDialog(
      t("stock.new_product"),
      [
        ["product-name", t("stock.product"), name],
        ["product-price", t("stock.price"), price],
        ["product-cost", t("stock.cost"), cost],
        ["product-barcode", t("stock.barcode"), barcode],
        ["product-unit", t("stock.unit"), unit],
      ],
      ["product-save", t("tasks.create")],
      () =>
        api.post("/api/products/products/", {
          name: name.value.trim(),
          price: decimal(price.value),
          cost: decimal(cost.value) || "0",
          unit: unit.value,
          barcodes: barcode.value.trim() ? [barcode.value.trim()] : [],
        }),
    );
    if (!made) return;
    toast(t("stock.created", { name: made.name }));
    const search = this.root.querySelector("#stock-search");
    search.value = made.name;
    await this.load(made.name);
  }
}
