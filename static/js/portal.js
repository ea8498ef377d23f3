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
    // Without the Clipboard API (a plain-http address other than localhost): select the text and copy that.
    const selectAndCopy = function () {
      if (source.select) {
        source.select();
      } else {
        const range = document.createRange();
        range.selectNodeContents(source);
        const selection = window.getSelection();
        selection.removeAllRanges();
        selection.addRange(range);
      }
      if (document.execCommand("copy")) done();
    };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(done, selectAndCopy);
    } else {
      selectAndCopy();
    }
  });
  // A GET form that shows its choice at once: <form data-autosubmit> (its <noscript> button is the fallback).
  document.addEventListener("change", function (event) {
    const form = event.target.closest("form[data-autosubmit]");
    if (form && event.target.matches("select")) form.submit();
  });
  // Tab bars that fit their width: <ul class="tabs" data-fit>. The tabs that do not fit go into a "More"
  // menu at the end; the current tab always stays in the bar. Without JavaScript the tabs wrap (CSS).
  function fitTabs(bar) {
    let more = bar.querySelector(":scope > li.tabs-more");
    if (!more) {
      more = document.createElement("li");
      more.className = "tabs-more";
      more.innerHTML = '<details class="menu"><summary>More</summary><ul class="menu-list"></ul></details>';
      bar.appendChild(more);
    }
    const list = more.querySelector(".menu-list");
    // Everything back in the bar, in order, then move tabs out from the end until the bar fits.
    list.querySelectorAll(":scope > li").forEach(function (item) { bar.insertBefore(item, more); });
    more.hidden = true;
    more.classList.remove("has-current");
    bar.classList.add("fitted");
    const fits = function () {
      const right = bar.getBoundingClientRect().right;
      const items = bar.querySelectorAll(":scope > li:not([hidden])");
      return items.length === 0 || items[items.length - 1].getBoundingClientRect().right <= right + 0.5;
    };
    if (fits()) return;
    more.hidden = false;
    let tabs = Array.prototype.slice.call(bar.querySelectorAll(":scope > li:not(.tabs-more)"));
    for (let i = tabs.length - 1; i >= 0 && !fits(); i--) {
      if (tabs[i].querySelector("[aria-current]")) continue;
      list.insertBefore(tabs[i], list.firstChild);
    }
  }
  function fitAll() { document.querySelectorAll("ul.tabs[data-fit]").forEach(fitTabs); }
  let pending = null;
  window.addEventListener("resize", function () {
    if (pending) cancelAnimationFrame(pending);
    pending = requestAnimationFrame(fitAll);
  });
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", fitAll);
  else fitAll();
  // One open menu at a time; a click elsewhere closes it.
  document.addEventListener("click", function (event) {
    document.querySelectorAll("li.tabs-more > details[open]").forEach(function (menu) {
      if (!menu.contains(event.target)) menu.removeAttribute("open");
    });
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
