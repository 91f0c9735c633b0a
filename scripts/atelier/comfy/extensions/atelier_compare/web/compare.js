// Atelier's Compare page, opened from ComfyUI's own menu in a new tab.
//
// ComfyUI's frontend (pinned in workflows/pin.yaml, 1.27) lets an extension add commands
// and place them in its menu (menuCommands). The page's address is built from the
// frontend's own base (api.fileURL), so it stays inside this session's path under
// Open OnDemand's /rnode/<host>/<port>/ proxy.
import { app } from "../../scripts/app.js";
import { api } from "../../scripts/api.js";

const OPEN = "Atelier.Compare.Open";

app.registerExtension({
  name: "Atelier.Compare",
  commands: [
    {
      id: OPEN,
      label: "Compare outputs",
      icon: "pi pi-images",
      tooltip: "Put outputs side by side: a contact sheet and a workbook, saved in your outputs folder",
      function: () => {
        window.open(api.fileURL("/atelier/compare"), "_blank", "noopener");
      },
    },
  ],
  menuCommands: [{ path: [], commands: [OPEN] }],
});
