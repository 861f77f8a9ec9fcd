// checkpoint-kv ui: the only script. Pages work without it; it expands a cut value in place
// ("show all" fetches the whole value from the same server) and adds expand/collapse-all
// buttons to state trees. No other origin is contacted (the page's CSP forbids it anyway).
"use strict";
document.addEventListener("click", async (event) => {
  const a = event.target.closest("a.more[data-inline]");
  if (!a || event.ctrlKey || event.metaKey || event.shiftKey) return;
  event.preventDefault();
  const url = new URL(a.href);
  url.searchParams.set("fragment", "1");
  a.textContent = "loading…";
  try {
    const response = await fetch(url, { credentials: "same-origin" });
    if (!response.ok) throw new Error(String(response.status));
    const holder = document.createElement("div");
    holder.innerHTML = await response.text(); // server-rendered and escaped: a <pre> of JSON
    const pre = holder.querySelector("pre");
    const cut = a.closest(".cut");
    const target = cut && cut.parentElement ? cut.parentElement : a;
    target.replaceWith(pre);
  } catch (e) {
    window.location.href = a.href; // fall back to the full page
  }
});

for (const section of document.querySelectorAll("section.state, section.diff, section.writes")) {
  const bar = document.createElement("p");
  bar.className = "treebar";
  for (const [label, open] of [["expand all", true], ["collapse all", false]]) {
    const b = document.createElement("button");
    b.type = "button";
    b.textContent = label;
    b.addEventListener("click", () => {
      for (const d of section.querySelectorAll("details.node")) d.open = open;
    });
    bar.appendChild(b);
  }
  section.prepend(bar);
}
