// Small page behaviours; every page works without them.
document.addEventListener("DOMContentLoaded", () => {
  // Wide tables scroll sideways: let keyboard users reach and scroll them too (WCAG 2.1.1).
  document.querySelectorAll(".md-typeset__scrollwrap").forEach((wrap) => {
    wrap.tabIndex = 0;
    wrap.setAttribute("role", "region");
    wrap.setAttribute("aria-label", "Table, scrolls sideways");
  });

  // Filter the lesson list by kind and level.
  const table = document.querySelector("table.atelier-lessons");
  if (!table) return;
  const filters = [...document.querySelectorAll("[data-lesson-filter]")];
  const count = document.querySelector("[data-lesson-count]");
  const apply = () => {
    let shown = 0;
    for (const row of table.tBodies[0].rows) {
      const visible = filters.every((f) => !f.value || row.dataset[f.dataset.lessonFilter] === f.value);
      row.hidden = !visible;
      shown += visible;
    }
    if (count) count.textContent = `${shown} of ${table.tBodies[0].rows.length} modules shown.`;
  };
  filters.forEach((f) => f.addEventListener("change", apply));
});
