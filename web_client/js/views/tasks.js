// Staff tasks: one's own (everyone) or the shop's (managers), a task's timeline, moving
// it along (start, submit, accept, return, cancel), comments, and photo reports from a
// phone's camera. New tasks and changes arrive at once on the user's tasks channel.

import { accessToken, api } from "../api.js";
import { clear, dateTime, h, toast, toastError } from "../dom.js";
import { channels } from "../hub.js";
import { errorText, t } from "../i18n.js";

const PRIORITIES = ["low", "normal", "high", "urgent"];
const TEXT_MAX = 4000; // the hub's longest comment or description

export async function mountTasks(root, ctx) {
  const view = new Tasks(root, ctx);
  await view.start();
  return () => view.stop();
}

class Tasks {
  constructor(root, ctx) {
    this.root = root;
    this.ctx = ctx;
    this.manages = ctx.me.permissions.includes("tasks.manage");
    this.scope = this.manages ? "all" : "mine";
    this.selected = null;
    this.leave = () => {};
    this.photoUrls = [];
  }

  async start() {
    clear(this.root).append(
      h(
        "div",
        { class: "tasks" },
        h(
          "section",
          { class: "task-list" },
          h(
            "div",
            { class: "row" },
            h("h1", {}, t("tasks.title")),
            this.manages
              ? h(
                  "select",
                  {
                    id: "task-scope",
                    "aria-label": t("tasks.scope"),
                    onchange: (event) => {
                      this.scope = event.target.value;
                      this.loadList();
                    },
                  },
                  h("option", { value: "all" }, t("tasks.scope_all")),
                  h("option", { value: "mine" }, t("tasks.scope_mine")),
                )
              : null,
            this.manages ? h("button", { type: "button", class: "primary", id: "new-task", onclick: () => this.newTask() }, t("tasks.new")) : null,
          ),
          h("ul", { id: "tasks", class: "items" }),
        ),
        h("section", { class: "task-detail card", id: "task-detail" }, h("p", { class: "muted" }, t("tasks.pick"))),
      ),
    );
    this.leave = await this.ctx.hub.subscribe(
      channels.tasks(this.ctx.tenant, this.ctx.me.user),
      (type, payload) => this.onEvent(type, payload),
      () => this.loadList(),
    );
    await this.loadList();
  }

  stop() {
    this.leave();
    this.dropPhotos();
  }

  onEvent(type, payload) {
    if (type === "task_template.paused") {
      toast(t("tasks.template_paused", { title: payload.title, reason: payload.reason }), "error");
      return;
    }
    const task = payload.task;
    if (!task) return;
    if (type === "task.assigned" && payload.by !== this.ctx.me.user) {
      toast(t("tasks.assigned_toast", { title: task.title }));
      if ("Notification" in window && Notification.permission === "granted") {
        new Notification(t("tasks.assigned_toast", { title: task.title }));
      }
    }
    this.loadList();
    // The open task is redrawn, unless that would wipe what the user is typing.
    if (this.selected === task.id && !this.typing()) this.open(task.id, { redraw: true });
  }

  typing() {
    const detail = this.root.querySelector("#task-detail");
    const comment = detail?.querySelector("#task-comment");
    return Boolean(comment?.value.trim()) || detail?.contains(document.activeElement) && document.activeElement.matches("input, textarea, select");
  }

  async loadList() {
    const found = await api.get("/api/tasks/tasks/", { mine: this.scope === "mine" ? "true" : undefined, page_size: 100 });
    const list = this.root.querySelector("#tasks");
    if (!list) return;
    clear(list);
    if (!found.results.length) list.append(h("li", { class: "muted" }, t("tasks.none")));
    for (const task of found.results) {
      list.append(
        h(
          "li",
          {},
          h(
            "button",
            {
              type: "button",
              class: `task-item priority-${task.priority} status-${task.status}${task.id === this.selected ? " selected" : ""}`,
              "data-task": task.id,
              onclick: () => this.open(task.id),
            },
            h("span", { class: "title" }, task.title),
            h("span", { class: "badge" }, t(`task.status.${task.status}`)),
            h("span", { class: `muted ${task.overdue ? "overdue" : ""}` }, task.due_at ? `${t("tasks.due")} ${dateTime(task.due_at)}` : t(`task.priority.${task.priority}`)),
          ),
        ),
      );
    }
  }

  dropPhotos() {
    for (const url of this.photoUrls) URL.revokeObjectURL(url);
    this.photoUrls = [];
  }

  /** Show a task. Of several opens under way the last one started draws, the others
   * give way; a `redraw` (an event about the task shown) also gives way when, by the
   * time the task has come, the user has moved to another or started typing. */
  async open(taskId, { redraw = false } = {}) {
    if (!redraw) this.selected = taskId;
    const turn = (this.opening = (this.opening || 0) + 1);
    const task = await api.get(`/api/tasks/tasks/${taskId}/`);
    if (turn !== this.opening) return;
    if (redraw && (this.selected !== taskId || this.typing())) return;
    this.dropPhotos();
    const detail = clear(this.root.querySelector("#task-detail"));
    const comment = h("textarea", { id: "task-comment", rows: 2, maxlength: TEXT_MAX, placeholder: t("tasks.comment") });
    const commentError = h("p", { class: "error", role: "alert", id: "task-comment-error" });
    const photo = h("input", { id: "task-photo", type: "file", accept: "image/jpeg,image/png,image/webp", capture: "environment", class: "visually-hidden" });
    photo.addEventListener("change", () => this.upload(task, photo));
    const open = !["done", "cancelled"].includes(task.status);
    // Reviewing (accept, return, cancel) is for managers; the rest is the assignee's.
    const moves = task.next_statuses.filter((status) => this.manages || ["in_progress", "on_review"].includes(status));
    detail.append(h("div", {},
      h("h2", { id: "task-title" }, task.title),
      h("div", { class: "row" }, h("span", { class: "badge", id: "task-status" }, t(`task.status.${task.status}`)), h("span", { class: "muted" }, t(`task.priority.${task.priority}`)), task.due_at ? h("span", { class: task.overdue ? "overdue" : "muted" }, `${t("tasks.due")} ${dateTime(task.due_at)}`) : null),
      task.description ? h("p", {}, task.description) : null,
      task.requires_photo ? h("p", { class: "muted" }, t("tasks.needs_photo")) : null,
      h(
        "div",
        { class: "row", id: "task-moves" },
        moves.map((status) =>
          h("button", { type: "button", class: status === "cancelled" ? "secondary" : "primary", "data-status": status, onclick: () => this.move(task, status, comment) }, t(`task.move.${status}`)),
        ),
      ),
      h("div", { class: "photos", id: "task-photos" }, task.photos.map((p) => this.thumbnail(task, p))),
      open ? h("label", { class: "secondary button", for: "task-photo", id: "task-photo-label" }, t("tasks.add_photo")) : null,
      photo,
      h("ol", { class: "timeline", id: "task-timeline" }, task.comments.map((c) => h("li", {}, h("span", { class: "muted" }, dateTime(c.created_at)), " ", c.status ? h("strong", {}, t(`task.status.${c.status}`)) : null, c.body ? ` ${c.body}` : ""))),
      h(
        "form",
        {
          class: "row",
          onsubmit: async (event) => {
            event.preventDefault();
            const body = comment.value.trim();
            if (!body) return;
            // maxlength stops typing, not a paste by script: say so rather than send it.
            if (body.length > TEXT_MAX) {
              commentError.textContent = t("tasks.too_long", { max: TEXT_MAX });
              return;
            }
            try {
              await api.post(`/api/tasks/tasks/${task.id}/comments/`, { body });
            } catch (failure) {
              commentError.textContent = errorText(failure);
              return;
            }
            comment.value = "";
            await this.open(task.id);
          },
        },
        comment,
        h("button", { type: "submit", class: "secondary", id: "task-comment-send" }, t("tasks.send")),
      ),
      commentError,
    ));
    for (const button of this.root.querySelectorAll(".task-item")) button.classList.toggle("selected", button.dataset.task === task.id);
  }

  thumbnail(task, photo) {
    const img = h("img", { alt: t("tasks.photo"), class: "thumb", "data-photo": photo.id });
    // The API wants the bearer token, which an <img src> cannot send: fetch, then a blob URL.
    (async () => {
      const response = await fetch(`/api/tasks/tasks/${task.id}/photos/${photo.id}/?thumbnail=true`, {
        headers: { Authorization: `Bearer ${await accessToken()}` },
      });
      if (!response.ok) return;
      const url = URL.createObjectURL(await response.blob());
      this.photoUrls.push(url);
      img.src = url;
    })();
    return img;
  }

  async upload(task, input) {
    const file = input.files[0];
    if (!file) return;
    try {
      await api.upload(`/api/tasks/tasks/${task.id}/photos/`, file);
      toast(t("tasks.photo_added"));
    } catch (failure) {
      toastError(failure);
    }
    input.value = "";
    await this.open(task.id);
  }

  async move(task, status, comment) {
    try {
      await api.post(`/api/tasks/tasks/${task.id}/status/`, { status, comment: comment.value.trim() });
      comment.value = "";
    } catch (failure) {
      toastError(failure);
    }
    await this.open(task.id);
    await this.loadList();
  }

  async newTask() {
    this.selected = null; // events about the task shown before must not replace the form
    const shops = (await api.get("/api/core/shops/", { is_active: true, page_size: 200 })).results;
    const users = (await api.get("/api/users/users/", { is_active: true, page_size: 200 })).results;
    const detail = clear(this.root.querySelector("#task-detail"));
    const field = (id, label, input) => [h("label", { for: id }, label), input];
    const title = h("input", { id: "new-title", required: true, maxlength: 200 });
    const description = h("textarea", { id: "new-description", rows: 3, maxlength: TEXT_MAX });
    const shop = h("select", { id: "new-shop" }, shops.map((s) => h("option", { value: s.id }, s.name)));
    const assignee = h(
      "select",
      { id: "new-assignee" },
      ["cashier", "stockkeeper", "manager"].map((role) => h("option", { value: `role:${role}` }, `${t("tasks.everyone")}: ${t(`role.${role}`)}`)),
      users.map((u) => h("option", { value: u.id }, `${u.full_name || u.username} (${t(`role.${u.role}`)})`)),
    );
    const priority = h("select", { id: "new-priority" }, PRIORITIES.map((p) => h("option", { value: p, selected: p === "normal" }, t(`task.priority.${p}`))));
    const due = h("input", { id: "new-due", type: "datetime-local" });
    const photo = h("input", { id: "new-photo", type: "checkbox" });
    const error = h("p", { class: "error", role: "alert" });
    detail.append(
      h(
        "form",
        {
          class: "stack",
          onsubmit: async (event) => {
            event.preventDefault();
            const body = {
              title: title.value.trim(),
              description: description.value,
              shop: shop.value,
              priority: priority.value,
              requires_photo: photo.checked,
            };
            if (assignee.value.startsWith("role:")) body.assignee_role = assignee.value.slice(5);
            else body.assignee = assignee.value;
            if (due.value) body.due_at = new Date(due.value).toISOString();
            try {
              const made = await api.post("/api/tasks/tasks/", body);
              await this.loadList();
              await this.open(made.id);
            } catch (failure) {
              error.textContent = errorText(failure);
            }
          },
        },
        h("h2", {}, t("tasks.new")),
        field("new-title", t("tasks.field_title"), title),
        field("new-description", t("tasks.field_description"), description),
        field("new-shop", t("tasks.field_shop"), shop),
        field("new-assignee", t("tasks.field_assignee"), assignee),
        field("new-priority", t("tasks.field_priority"), priority),
        field("new-due", t("tasks.field_due"), due),
        h("label", { class: "check" }, photo, t("tasks.field_photo")),
        h("button", { type: "submit", class: "primary", id: "new-task-save" }, t("tasks.create")),
        error,
      ),
    );
    title.focus();
  }
}
