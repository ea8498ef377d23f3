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
    // A big tree's branch that is not in the page yet: <ul data-branch="URL"> loads its rows once.
    const branch = node.querySelector(":scope > ul[data-branch]");
    if (branch && !branch.hasAttribute("data-loaded") && !node.classList.contains("collapsed")) {
      branch.setAttribute("data-loaded", "");
      branch.setAttribute("aria-busy", "true");
      branch.innerHTML = '<li class="muted">Loading…</li>';
      fetch(branch.getAttribute("data-branch"), { credentials: "same-origin", headers: { "HX-Request": "true" } })
        .then(function (response) {
          if (!response.ok) throw new Error(response.status);
          return response.text();
        })
        .then(function (html) { branch.innerHTML = html; })
        .catch(function () {
          branch.removeAttribute("data-loaded");
          branch.innerHTML = '<li class="error">Could not load these Virtual Accounts. Close and open the branch to try again.</li>';
        })
        .finally(function () { branch.removeAttribute("aria-busy"); });
    }
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
