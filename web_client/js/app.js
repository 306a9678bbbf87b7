// The web client: login, then the till, the manager's dashboard, goods and stock,
// customers, directories (categories, suppliers, customer groups) and tasks, in Russian
// or English. Views are mounted into <main> by the hash route (#/till, #/dashboard,
// #/stock, #/customers, #/catalogue, #/tasks); every view gets the signed-in user and
// one websocket to the hub.

import { api, login, logout, session, whenSignedOut } from "./api.js";
import { h, clear, toast } from "./dom.js";
import { Hub } from "./hub.js";
import { errorText, language, setLanguage, t, LANGUAGES } from "./i18n.js";
import { mountLogin } from "./views/login.js";
import { mountTill } from "./views/till.js";
import { mountDashboard } from "./views/dashboard.js";
import { mountStock } from "./views/stock.js";
import { mountCustomers } from "./views/customers.js";
import { mountTasks } from "./views/tasks.js";
import { mountCatalogue } from "./views/catalogue.js";

const VIEWS = {
  till: { mount: mountTill, label: "nav.till", can: (me) => me.permissions.includes("sales.sell") },
  dashboard: { mount: mountDashboard, label: "nav.dashboard", can: (me) => me.permissions.includes("live.watch") },
  stock: { mount: mountStock, label: "nav.stock", can: (me) => me.permissions.includes("stock.view") },
  customers: { mount: mountCustomers, label: "nav.customers", can: (me) => me.permissions.includes("customers.view") },
  catalogue: {
    mount: mountCatalogue,
    label: "nav.catalogue",
    can: (me) => me.permissions.includes("catalogue.view") || me.permissions.includes("customers.view"),
  },
  tasks: { mount: mountTasks, label: "nav.tasks", can: (me) => me.permissions.includes("tasks.view") },
};

const main = document.getElementById("view");
const header = document.getElementById("header");
let hub = null;
let unmount = () => {};
let routing = 0; // which route() is current: a slower earlier one must not win

// Managers and owners land on the dashboard, cashiers at the till, stockkeepers on the
// goods.
function defaultView(me) {
  return ["dashboard", "till", "stock", "tasks"].find((name) => VIEWS[name].can(me)) || "tasks";
}

function renderHeader(me, current) {
  clear(header);
  header.append(
    h("a", { class: "brand", href: "#/" }, "POS"),
    me
      ? h(
          "nav",
          {},
          Object.entries(VIEWS)
            .filter(([, view]) => view.can(me))
            .map(([name, view]) =>
              h("a", { href: `#/${name}`, class: name === current ? "active" : "", "data-view": name }, t(view.label)),
            ),
        )
      : h("span"),
    h(
      "div",
      { class: "header-tools" },
      h("span", { class: "connection", id: "connection", title: t("connection.state") }),
      h(
        "select",
        {
          "aria-label": t("language"),
          id: "language",
          onchange: (event) => {
            setLanguage(event.target.value);
            route();
          },
        },
        LANGUAGES.map((code) => h("option", { value: code, selected: code === language() }, code.toUpperCase())),
      ),
      me ? h("span", { class: "user" }, me.username) : null,
      me
        ? h(
            "button",
            {
              type: "button",
              class: "secondary",
              id: "logout",
              onclick: async () => {
                hub?.close();
                hub = null;
                await logout();
                route();
              },
            },
            t("logout"),
          )
        : null,
    ),
  );
}

function showConnection(state) {
  const dot = document.getElementById("connection");
  if (dot) {
    dot.className = `connection ${state}`;
    dot.textContent = t(`connection.${state}`);
  }
}

let connectingHub = null; // one connection under way, shared by routes that need it

async function ensureHub() {
  if (hub) return hub;
  connectingHub ??= (async () => {
    const connecting = new Hub();
    connecting.onState(showConnection);
    connecting.onSignedOut = signedOut;
    try {
      await connecting.connect();
    } catch (error) {
      connecting.close(); // no half-made hub: the next route connects afresh
      throw error;
    } finally {
      connectingHub = null;
    }
    hub = connecting;
    showConnection("online");
    return hub;
  })();
  return connectingHub;
}

function signedOut() {
  hub?.close();
  hub = null;
  session.clear();
  toast(t("session.ended"), "error");
  route();
}

async function route() {
  const generation = ++routing;
  unmount();
  unmount = () => {};
  document.documentElement.lang = language();
  document.title = t("title");
  const current = session.load();
  if (!current || !current.me) {
    renderHeader(null, null);
    unmount = mountLogin(main, {
      onLogin: async (username, password) => {
        await login(username, password);
        location.hash = "";
        await route();
      },
    });
    return;
  }
  const me = current.me;
  let name = location.hash.replace(/^#\/?/, "").split("/")[0];
  if (!VIEWS[name] || !VIEWS[name].can(me)) name = defaultView(me);
  renderHeader(me, name);
  // Each view draws into a root of its own: one still loading when the user moves on
  // draws into a detached element, never over the next view.
  const root = h("div", { class: "view-root" }, h("p", { class: "loading" }, t("loading")));
  clear(main).append(root);
  try {
    const connected = await ensureHub();
    const ctx = { me, hub: connected, tenant: connected.hello.tenant };
    if (generation !== routing) return;
    clear(root);
    const leave = (await VIEWS[name].mount(root, ctx)) || (() => {});
    if (generation !== routing) {
      leave(); // the user moved on while it loaded
      return;
    }
    unmount = leave;
  } catch (error) {
    if (generation !== routing) return;
    clear(root).append(
      h(
        "div",
        { class: "card narrow" },
        h("p", { class: "error" }, `${t("error.load")}: ${errorText(error)}`),
        h("button", { type: "button", class: "primary", id: "retry", onclick: () => route() }, t("retry")),
      ),
    );
  }
}

whenSignedOut(signedOut);
window.addEventListener("hashchange", route);
route();

// For the browser tests and the curious: what is on screen.
window.posClient = { api, route };
