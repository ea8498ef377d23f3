// Small behaviours shared by every page. No framework; htmx does the partial updates.
(function () {
  "use strict";
  // Copy buttons: <button data-copy="#id">Copy</button>
  document.addEventListener("click", function (event) {
    const button = event.target.closest("[data-copy]");
    if (!button) return;
    const source = document.querySelector(button.getAttribute("data-copy"));
    if (!source) return;
    const text = source.value !== undefined ? source.value : source.textContent;
    const done = function () {
      const label = button.textContent;
      button.textContent = "Copied";
      setTimeout(function () { button.textContent = label; }, 1500);
    };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(done, function () { source.select && source.select(); });
    } else if (source.select) {
      source.select();
      document.execCommand("copy");
      done();
    }
  });
  // Collapsible tree nodes: <li class="tree-node"><div class="tree-row"><button class="tree-toggle">
  document.addEventListener("click", function (event) {
    const toggle = event.target.closest(".tree-toggle");
    if (!toggle) return;
    const node = toggle.closest(".tree-node");
    node.classList.toggle("collapsed");
    toggle.setAttribute("aria-expanded", node.classList.contains("collapsed") ? "false" : "true");
  });
  // A big tree's branch that is not in the page yet: its toggle loads the rows with htmx (hx-get, see the
  // va_tree template tag); these handlers only say what is happening, and why a load failed.
  function branchOf(event) {
    const toggle = event.detail && event.detail.elt;
    if (!toggle || !toggle.classList || !toggle.classList.contains("tree-toggle")) return null;
    return toggle.closest(".tree-node").querySelector(":scope > ul[data-branch]");
  }
  document.addEventListener("htmx:beforeRequest", function (event) {
    const branch = branchOf(event);
    if (!branch) return;
    branch.setAttribute("aria-busy", "true");
    branch.innerHTML = '<li class="muted branch-placeholder">Loading…</li>';
  });
  function failed(event) {
    const branch = branchOf(event);
    if (!branch) return;
    branch.removeAttribute("aria-busy");
    branch.innerHTML = '<li class="error branch-placeholder">Could not load these Virtual Accounts. Close and open the branch to try again.</li>';
  }
  document.addEventListener("htmx:responseError", failed);
  document.addEventListener("htmx:sendError", failed);
  document.addEventListener("htmx:afterSwap", function (event) {
    const branch = branchOf(event);
    if (branch) branch.removeAttribute("aria-busy");
  });
  // "Select all" checkboxes: <input type="checkbox" data-select-all="name-of-boxes">
  document.addEventListener("change", function (event) {
    const all = event.target.closest("[data-select-all]");
    if (!all) return;
    document.querySelectorAll('input[type=checkbox][name="' + all.getAttribute("data-select-all") + '"]').forEach(function (box) {
      box.checked = all.checked;
    });
  });
  // Confirm before destructive submits: <form data-confirm="Really?">
  document.addEventListener("submit", function (event) {
    const form = event.target.closest("[data-confirm]");
    if (form && !window.confirm(form.getAttribute("data-confirm"))) event.preventDefault();
  });
})();
