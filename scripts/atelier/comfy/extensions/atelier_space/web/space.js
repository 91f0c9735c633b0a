// Atelier's notices about free space, as toasts in ComfyUI's own page.
//
// The server side (atelier_space/__init__.py) sends "atelier.notice" messages on the
// WebSocket: a folder running low when a prompt starts, or a picture that could not be
// saved because the folder is full. The frontend (pinned in workflows/pin.yaml, 1.27)
// passes a message type to an extension once it listens for it, and shows toasts
// through app.extensionManager.toast. When the page opens it asks atelier/space once,
// so a session that starts nearly full says so before the first run.
import { app } from "../../scripts/app.js";
import { api } from "../../scripts/api.js";

const EVENT = "atelier.notice";
const SUMMARY = { warn: "Running out of space", error: "Not saved: the folder is full" };

function show(notice) {
  if (!notice || !notice.text) return;
  const severity = notice.severity === "error" ? "error" : "warn";
  // A failed save stays until it is closed; a warning goes after half a minute.
  app.extensionManager.toast.add({
    severity, summary: SUMMARY[severity], detail: notice.text, ...(severity === "warn" ? { life: 30000 } : {}),
  });
}

app.registerExtension({
  name: "Atelier.Space",
  async setup() {
    api.addEventListener(EVENT, (event) => show(event.detail));
    try {
      const answer = await api.fetchApi("/atelier/space");
      if (answer.ok) (await answer.json()).notices.forEach(show);
    } catch (error) {
      console.warn("atelier space: could not ask for the free space", error);
    }
  },
});
