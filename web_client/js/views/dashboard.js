// The manager's dashboard for one shop: today's KPIs and hourly chart (the daily
// report, fetched again after each sale), the live sales feed and every till's cart as
// it is being built.

import { api } from "../api.js";
import { clear, h, money, quantity, time } from "../dom.js";
import { channels } from "../hub.js";
import { t } from "../i18n.js";

const SHOP_KEY = "pos.dashboard.shop";
const FEED_LENGTH = 30;
const CLOSED_CART_SECONDS = 8;

export async function mountDashboard(root, ctx) {
  const board = new Dashboard(root, ctx);
  await board.start();
  return () => board.stop();
}

class Dashboard {
  constructor(root, ctx) {
    this.root = root;
    this.ctx = ctx;
    this.leave = [];
    this.carts = new Map();
    this.registers = new Map();
    this.refreshTimer = null;
  }

  async start() {
    const shops = (await api.get("/api/core/shops/", { is_active: true, page_size: 200 })).results;
    if (!shops.length) {
      clear(this.root).append(h("p", { class: "muted" }, t("dashboard.no_shops")));
      return;
    }
    const saved = localStorage.getItem(SHOP_KEY);
    this.shops = shops;
    this.shop = shops.find((s) => s.id === saved) || shops[0];
    await this.show();
  }

  stop() {
    for (const leave of this.leave) leave();
    this.leave = [];
    clearTimeout(this.refreshTimer);
  }

  async show() {
    this.stop();
    this.carts.clear();
    const registers = await api.get("/api/sales/cash-registers/", { shop: this.shop.id, page_size: 200 });
    this.registers = new Map(registers.results.map((r) => [r.id, r.name]));
    clear(this.root).append(
      h(
        "div",
        { class: "dashboard" },
        h(
          "div",
          { class: "row" },
          h("h1", {}, t("dashboard.title")),
          h(
            "select",
            {
              id: "dashboard-shop",
              "aria-label": t("dashboard.shop"),
              onchange: (event) => {
                this.shop = this.shops.find((s) => s.id === event.target.value);
                localStorage.setItem(SHOP_KEY, this.shop.id);
                this.show();
              },
            },
            this.shops.map((s) => h("option", { value: s.id, selected: s.id === this.shop.id }, s.name)),
          ),
        ),
        h("section", { id: "kpis", class: "kpis" }),
        h("section", { class: "card" }, h("h2", {}, t("dashboard.by_hour")), h("div", { id: "hourly" })),
        h(
          "div",
          { class: "columns" },
          h("section", { class: "card" }, h("h2", {}, t("dashboard.feed")), h("ol", { id: "feed", class: "feed" })),
          h("section", { class: "card" }, h("h2", {}, t("dashboard.carts")), h("div", { id: "live-carts", class: "live-carts" })),
        ),
      ),
    );
    const tenant = this.ctx.tenant;
    this.leave.push(
      await this.ctx.hub.subscribe(
        channels.sales(tenant, this.shop.id),
        (type, payload) => this.onSale(type, payload),
        () => this.loadReport(),
      ),
      await this.ctx.hub.subscribe(
        channels.carts(tenant, this.shop.id),
        (type, cart) => this.onCart(type, cart),
        () => this.loadCarts(),
      ),
    );
    await Promise.all([this.loadReport(), this.loadCarts(), this.loadFeed()]);
  }

  async loadReport() {
    const report = await api.get("/api/analytics/daily/", { shop: this.shop.id });
    this.renderKpis(report);
    this.renderHours(report.by_hour);
  }

  renderKpis(report) {
    const tile = (key, value, id) => h("div", { class: "kpi", id }, h("span", { class: "kpi-label" }, t(key)), h("span", { class: "kpi-value" }, value));
    clear(this.root.querySelector("#kpis")).append(
      tile("kpi.revenue", money(report.revenue), "kpi-revenue"),
      tile("kpi.receipts", String(report.receipts), "kpi-receipts"),
      tile("kpi.average", money(report.average_ticket), "kpi-average"),
      tile("kpi.returns", money(report.returns.total), "kpi-returns"),
      tile("kpi.margin", money(report.gross_margin), "kpi-margin"),
    );
  }

  renderHours(hours) {
    const width = 24 * 22;
    const height = 120;
    const top = Math.max(1, ...hours.map((hour) => Number(hour.revenue)));
    const bars = hours.map((hour) => {
      const tall = Math.round((Number(hour.revenue) / top) * (height - 20));
      return h(
        "g",
        {},
        h("rect", { x: hour.hour * 22 + 2, y: height - 16 - tall, width: 18, height: tall, class: "bar", "data-hour": hour.hour }),
        h("title", {}, `${hour.hour}:00 — ${money(hour.revenue)} (${hour.receipts})`),
        hour.hour % 3 === 0 ? h("text", { x: hour.hour * 22 + 4, y: height - 2, class: "axis" }, String(hour.hour)) : null,
      );
    });
    const svg = svgElement("svg", { viewBox: `0 0 ${width} ${height}`, class: "chart", role: "img", "aria-label": t("dashboard.by_hour") }, bars);
    clear(this.root.querySelector("#hourly")).append(svg);
  }

  async loadFeed() {
    const since = startOfDayIn(this.shop.timezone || "UTC");
    const recent = await api.get("/api/sales/sales/", { shop: this.shop.id, date_from: since, page_size: FEED_LENGTH });
    const feed = clear(this.root.querySelector("#feed"));
    for (const sale of recent.results) {
      const payments = Object.fromEntries(sale.payments.map((p) => [p.method, p.amount]));
      feed.append(this.feedItem({ sale: sale.id, number: sale.number, register: sale.cash_register, total: sale.total, payments, created_at: sale.created_at }));
    }
  }

  feedItem(sale) {
    return h(
      "li",
      { class: "feed-item", "data-sale": sale.sale },
      // The shop's clock, as the hourly chart's: not the browser's, which may be elsewhere.
      h("span", { class: "when" }, time(sale.created_at, this.shop.timezone || undefined)),
      h("span", {}, `${this.registers.get(sale.register) || t("dashboard.till")} · №${sale.number}`),
      h("span", { class: "methods muted" }, Object.keys(sale.payments).map((m) => t(`method.${m}`)).join(", ")),
      h("strong", { class: "num" }, money(sale.total)),
    );
  }

  onSale(type, payload) {
    if (type !== "sale.completed") return;
    const feed = this.root.querySelector("#feed");
    if (!feed) return;
    feed.prepend(this.feedItem(payload));
    while (feed.children.length > FEED_LENGTH) feed.lastChild.remove();
    // Many sales at once make one fetch of the report.
    clearTimeout(this.refreshTimer);
    this.refreshTimer = setTimeout(() => this.loadReport().catch(() => {}), 250);
  }

  async loadCarts() {
    const open = await api.get("/api/sales/carts/", { shop: this.shop.id, status: "open", page_size: 100 });
    this.carts.clear();
    for (const cart of open.results) this.carts.set(cart.id, cart);
    this.renderCarts();
  }

  onCart(type, cart) {
    const known = this.carts.get(cart.id);
    if (known && known.version >= cart.version) return;
    this.carts.set(cart.id, cart);
    if (type === "cart.closed") {
      setTimeout(() => {
        if (this.carts.get(cart.id)?.status !== "open") {
          this.carts.delete(cart.id);
          this.renderCarts();
        }
      }, CLOSED_CART_SECONDS * 1000);
    }
    this.renderCarts();
  }

  renderCarts() {
    const box = this.root.querySelector("#live-carts");
    if (!box) return;
    clear(box);
    if (!this.carts.size) box.append(h("p", { class: "muted" }, t("dashboard.no_carts")));
    for (const cart of this.carts.values()) {
      box.append(
        h(
          "article",
          { class: `live-cart ${cart.status}`, "data-cart": cart.id },
          h(
            "header",
            {},
            h("strong", {}, this.registers.get(cart.cash_register) || t("dashboard.till")),
            h("span", { class: "status" }, t(`cart.status.${cart.status}`)),
          ),
          h("ul", {}, cart.lines.map((line) => h("li", {}, h("span", {}, line.name), h("span", { class: "num" }, `${quantity(line.quantity)} · ${money(line.total)}`)))),
          h("footer", {}, cart.customer ? h("span", {}, cart.customer.name) : h("span"), h("strong", { class: "num cart-total" }, money(cart.total))),
        ),
      );
    }
  }
}

/** Midnight of today in the shop's time zone, as an ISO instant. */
export function startOfDayIn(timeZone, now = new Date()) {
  const parts = Object.fromEntries(
    new Intl.DateTimeFormat("en-US", {
      timeZone,
      year: "numeric",
      month: "2-digit",
      day: "2-digit",
      hour: "2-digit",
      minute: "2-digit",
      second: "2-digit",
      hourCycle: "h23",
    })
      .formatToParts(now)
      .map((part) => [part.type, Number(part.value)]),
  );
  const wall = Date.UTC(parts.year, parts.month - 1, parts.day, parts.hour, parts.minute, parts.second);
  const offset = wall - Math.floor(now.getTime() / 1000) * 1000; // the zone's offset now
  return new Date(Date.UTC(parts.year, parts.month - 1, parts.day) - offset).toISOString();
}

function svgElement(tag, attrs, children) {
  const element = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [name, value] of Object.entries(attrs)) element.setAttribute(name, String(value));
  for (const child of children.flat()) {
    if (child) element.append(child.namespaceURI === "http://www.w3.org/2000/svg" ? child : toSvg(child));
  }
  return element;
}

// `h` makes HTML elements; the chart's need the SVG namespace.
function toSvg(node) {
  const element = document.createElementNS("http://www.w3.org/2000/svg", node.tagName.toLowerCase());
  for (const attr of node.attributes) element.setAttribute(attr.name, attr.value);
  for (const child of node.childNodes) element.append(child.nodeType === Node.ELEMENT_NODE ? toSvg(child) : child.cloneNode());
  return element;
}
