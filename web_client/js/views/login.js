import { h, clear } from "../dom.js";
import { errorText, t } from "../i18n.js";

export function mountLogin(root, { onLogin }) {
  const error = h("p", { class: "error", id: "login-error", role: "alert" });
  const username = h("input", { id: "username", name: "username", autocomplete: "username", required: true });
  const password = h("input", { id: "password", name: "password", type: "password", autocomplete: "current-password", required: true });
  const submit = h("button", { type: "submit", class: "primary", id: "login-submit" }, t("login.submit"));
  const form = h(
    "form",
    {
      class: "card login",
      onsubmit: async (event) => {
        event.preventDefault();
        submit.disabled = true;
        error.textContent = "";
        try {
          await onLogin(username.value.trim(), password.value);
        } catch (failure) {
          error.textContent =
            failure.code === "invalid_credentials" ? t("login.invalid")
            : failure.code === "too_many_attempts" ? t("login.throttled")
            : errorText(failure);
          submit.disabled = false;
        }
      },
    },
    h("h1", {}, t("login.title")),
    h("label", { for: "username" }, t("login.username")),
    username,
    h("label", { for: "password" }, t("login.password")),
    password,
    submit,
    error,
  );
  clear(root).append(form);
  username.focus();
  return () => {};
}
