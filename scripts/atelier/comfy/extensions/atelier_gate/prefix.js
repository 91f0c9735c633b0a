// Put in front of ComfyUI's page by the login gate (see __init__.py), before any of the
// frontend's own scripts: keep the tab's icon inside this session's path.
//
// ComfyUI's frontend (pinned in workflows/pin.yaml, 1.27) shows a prompt's progress in the
// tab's icon (useProgressFavicon, through vueuse's useFavicon), setting <link rel="icon">'s
// href to "/assets/images/favicon_progress_16x16/frame_<n>.png": a path from the site's root,
// where every other request of the page is built from its own base. Behind Open OnDemand's
// /rnode/<node>/<port>/ proxy that root is the dashboard's, so the browser asks the dashboard
// for a file it does not have (the kind of bug ComfyUI issue #14455 reports). This puts the
// frontend's base (its api_base, the page's own folder) in front of such a path on icon links.
(() => {
  const FROM_ROOT = "/assets/"; // the frontend's own files, which ComfyUI serves under the base
  const base = location.pathname.split("/").slice(0, -1).join("/"); // as the frontend's api_base
  const href = Object.getOwnPropertyDescriptor(HTMLLinkElement.prototype, "href");
  const isIcon = (link) => (link.rel || "").split(/\s+/).includes("icon");
  Object.defineProperty(HTMLLinkElement.prototype, "href", {
    ...href,
    set(value) {
      const fromRoot = isIcon(this) && typeof value === "string" && value.startsWith(FROM_ROOT);
      href.set.call(this, fromRoot ? base + value : value);
    },
  });
})();
