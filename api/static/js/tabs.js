// Tabs: show one panel at a time; the choice survives a reload (location hash).
function show(name) {
  document.querySelectorAll(".tab").forEach((t) => t.classList.toggle("active", t.dataset.tab === name));
  document.querySelectorAll(".tab-panel").forEach((p) => p.classList.toggle("hidden", p.dataset.panel !== name));
}

document.querySelectorAll(".tab").forEach((t) =>
  t.addEventListener("click", () => {
    show(t.dataset.tab);
    history.replaceState(null, "", `#${t.dataset.tab}`);
  }),
);
const named = [...document.querySelectorAll(".tab")].map((t) => t.dataset.tab);
show(named.includes(location.hash.slice(1)) ? location.hash.slice(1) : "live");
