// Scanning with the device's camera: the browser's own BarcodeDetector (Chromium on
// Android and ChromeOS, Safari 17+). Where there is none, the till says so and the
// keyboard-wedge scanner or typing remains.

import { h, modal } from "../dom.js";
import { t } from "../i18n.js";

const FORMATS = ["ean_13", "ean_8", "upc_a", "upc_e", "code_128"];

export function cameraScan() {
  return modal(t("camera.title"), (close) => {
    if (!("BarcodeDetector" in window) || !navigator.mediaDevices?.getUserMedia) {
      return h("p", { class: "muted", id: "camera-unsupported" }, t("camera.unsupported"));
    }
    const video = h("video", { class: "camera", playsinline: true, muted: true });
    const status = h("p", { class: "muted" }, t("camera.aim"));
    let stream = null;
    let stopped = false;
    const finish = (code) => {
      stopped = true;
      stream?.getTracks().forEach((track) => track.stop());
      close(code);
    };
    // However the dialog closes (× or Escape too), the camera goes off.
    queueMicrotask(() =>
      video.closest("dialog")?.addEventListener("close", () => {
        stopped = true;
        stream?.getTracks().forEach((track) => track.stop());
      }),
    );
    (async () => {
      try {
        const detector = new window.BarcodeDetector({ formats: FORMATS });
        stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" } });
        video.srcObject = stream;
        await video.play();
        while (!stopped) {
          const found = await detector.detect(video).catch(() => []);
          if (found.length) return finish(found[0].rawValue);
          await new Promise((resolve) => setTimeout(resolve, 250));
        }
      } catch (error) {
        status.textContent = `${t("camera.failed")}: ${error.message}`;
      }
    })();
    return h("div", {}, video, status, h("button", { type: "button", class: "secondary", onclick: () => finish(null) }, t("cancel")));
  });
}
