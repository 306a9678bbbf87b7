// Directories: product categories (a tree, each under its parent), suppliers, and
// customer groups (their discount and bonus rate). Whoever manages the catalogue
// (owners, managers, stockkeepers) adds and edits categories and suppliers; whoever
// manages credit (owners, managers) customer groups; whoever may view them sees them.
// An empty category or group can be deleted; a supplier is made inactive instead.

import { api } from "../api.js";
import { clear, decimal, formDialog, h, percent, toast, toastError } from "../dom.js";
import { t } from "../i18n.js";

export async function mountCatalogue(root, ctx) {
  const can = (permission) => ctx.me.permissions.includes(permission);
  const sections = [
    can("catalogue.view") ? new Categories(can("catalogue.manage")) : null,
    can("catalogue.view") ? new Suppliers(can("catalogue.manage")) : null,
    can("customers.view") ? new Groups(can("customers.credit")) : null,
  ].filter(Boolean);
  clear(root).append(h("div", { class: "catalogue" }, h("h1", {}, t("catalogue.title")), sections.map((s) => s.element)));
  await Promise.all(sections.map((s) => s.load()));
  return () => {};
}

/** One directory: its table, and a dialog to add an entry or edit one. */
class Directory {
  constructor(key, path, manages, deletes = false) {
    this.key = key;
    this.path = path;
    this.manages = manages;
    this.deletes = manages && deletes;
    this.items = [];
    this.table = h("table", { class: "lines", id: `${key}-table` });
    this.element = h(
      "section",
      { id: `${key}-section` },
      h(
        "div",
        { class: "row" },
        h("h2", {}, t(`catalogue.${key}`)),
        manages ? h("button", { type: "button", class: "primary", id: `new-${key}`, onclick: () => this.edit(null) }, t("catalogue.new")) : null,
      ),
      this.table,
    );
  }

  /** Every entry (all pages); a refusal is told and leaves the table as it was. */
  async load() {
    const items = [];
    try {
      for (let page = 1; ; page += 1) {
        const found = await api.get(this.path, { page, page_size: 200 });
        items.push(...found.results);
        if (!found.next) break;
      }
    } catch (failure) {
      toastError(failure);
      return;
    }
    this.items = items;
    const headings = [...this.headings(), ""];
    clear(this.table).append(
      h("thead", {}, h("tr", {}, headings.map((k) => h("th", {}, k ? t(k) : "")))),
      h(
        "tbody",
        {},
        items.length
          ? items.map((item) =>
              h(
                "tr",
                { class: `${this.key}-row`, "data-id": item.id },
                this.cells(item).map((cell) => h("td", {}, cell)),
                h(
                  "td",
                  { class: "actions" },
                  this.manages ? h("button", { type: "button", class: "secondary edit", onclick: () => this.edit(item) }, t("catalogue.edit")) : null,
                  this.deletes ? h("button", { type: "button", class: "secondary delete", onclick: () => this.remove(item) }, t("catalogue.delete")) : null,
                ),
              ),
            )
          : h("tr", {}, h("td", { colspan: headings.length, class: "muted empty" }, t("catalogue.none"))),
      ),
    );
  }

  /** Add (`item` null) or edit an entry; the hub's refusal stays in the dialog. */
  async edit(item) {
    const fields = this.fields(item);
    const saved = await formDialog(
      item ? t("catalogue.edit_title", { name: item.name }) : t(`catalogue.new_${this.key}`),
      fields.map(([name, label, input]) => [`${this.key}-${name}`, t(label), input]),
      [`${this.key}-save`, t("save")],
      () => {
        const body = this.body(Object.fromEntries(fields.map(([name, , input]) => [name, input])));
        return item ? api.patch(`${this.path}${item.id}/`, body) : api.post(this.path, body);
      },
    );
    if (!saved) return;
    toast(t("catalogue.saved", { name: saved.name }));
    await this.load();
  }

  /** Delete an entry once confirmed; the hub refuses one still in use, in the dialog. */
  async remove(item) {
    const removed = await formDialog(
      t("catalogue.delete_title", { name: item.name }),
      [],
      [`${this.key}-delete-confirm`, t("catalogue.delete")],
      async () => {
        await api.remove(`${this.path}${item.id}/`);
        return true;
      },
    );
    if (!removed) return;
    toast(t("catalogue.deleted", { name: item.name }));
    await this.load();
  }
}

function input(id, attrs = {}, value = "") {
  return h("input", { id, value: value ?? "", ...attrs });
}

class Categories extends Directory {
  constructor(manages) {
    super("categories", "/api/products/categories/", manages, true);
  }

  headings() {
    return ["catalogue.name", "catalogue.parent"];
  }

  cells(category) {
    const parent = this.items.find((c) => c.id === category.parent);
    return [category.name, parent ? parent.name : ""];
  }

  fields(category) {
    // A category cannot sit under itself or under one of its own (the hub refuses too).
    const below = new Set(category ? [category.id] : []);
    for (let grew = true; grew; ) {
      grew = false;
      for (const c of this.items) {
        if (c.parent && below.has(c.parent) && !below.has(c.id)) {
          below.add(c.id);
          grew = true;
        }
      }
    }
    const parent = h(
      "select",
      { id: "categories-parent" },
      h("option", { value: "" }, t("catalogue.top")),
      this.items.filter((c) => !below.has(c.id)).map((c) => h("option", { value: c.id, selected: c.id === category?.parent }, c.name)),
    );
    return [
      ["name", "catalogue.name", input("categories-name", { required: true, maxlength: 200 }, category?.name)],
      ["parent", "catalogue.parent", parent],
    ];
  }

  body({ name, parent }) {
    return { name: name.value.trim(), parent: parent.value || null };
  }
}

class Suppliers extends Directory {
  constructor(manages) {
    super("suppliers", "/api/products/suppliers/", manages);
  }

  headings() {
    return ["catalogue.name", "catalogue.phone", "catalogue.email", "catalogue.tax_id", "catalogue.active"];
  }

  cells(supplier) {
    return [supplier.name, supplier.phone, supplier.email, supplier.tax_id, supplier.is_active ? t("catalogue.yes") : t("catalogue.no")];
  }

  fields(supplier) {
    const fields = [
      ["name", "catalogue.name", input("suppliers-name", { required: true, maxlength: 200 }, supplier?.name)],
      ["phone", "catalogue.phone", input("suppliers-phone", { type: "tel", maxlength: 32 }, supplier?.phone)],
      ["email", "catalogue.email", input("suppliers-email", { type: "email", maxlength: 254 }, supplier?.email)],
      ["tax_id", "catalogue.tax_id", input("suppliers-tax_id", { maxlength: 32 }, supplier?.tax_id)],
      ["notes", "catalogue.notes", h("textarea", { id: "suppliers-notes", maxlength: 2000 }, supplier?.notes ?? "")],
    ];
    if (supplier) {
      fields.push(["is_active", "catalogue.active", h("input", { id: "suppliers-is_active", type: "checkbox", checked: supplier.is_active })]);
    }
    return fields;
  }

  body({ name, phone, email, tax_id, notes, is_active }) {
    const body = { name: name.value.trim(), phone: phone.value.trim(), email: email.value.trim(), tax_id: tax_id.value.trim(), notes: notes.value.trim() };
    if (is_active) body.is_active = is_active.checked;
    return body;
  }
}

class Groups extends Directory {
  constructor(manages) {
    super("groups", "/api/customers/groups/", manages, true);
  }

  headings() {
    return ["catalogue.name", "catalogue.discount", "catalogue.bonus_rate"];
  }

  cells(group) {
    return [group.name, `${percent(group.discount_percent)} %`, group.bonus_rate === null ? t("catalogue.tenant_rate") : `${percent(group.bonus_rate)} %`];
  }

  fields(group) {
    return [
      ["name", "catalogue.name", input("groups-name", { required: true, maxlength: 100 }, group?.name)],
      ["discount", "catalogue.discount", input("groups-discount", { inputmode: "decimal", required: true }, group ? percent(group.discount_percent) : "0")],
      ["bonus", "catalogue.bonus_rate", input("groups-bonus", { inputmode: "decimal", placeholder: t("catalogue.tenant_rate") }, group?.bonus_rate === null ? "" : percent(group?.bonus_rate))],
    ];
  }

  body({ name, discount, bonus }) {
    const rate = decimal(bonus.value);
    return { name: name.value.trim(), discount_percent: decimal(discount.value) || "0", bonus_rate: rate || null };
  }
}
