// promptyard UI: the only script. Progressive: every page works without it.
// - a select or checkbox marked data-autosubmit sends its form when changed
// - "/" focuses the field marked data-focus-key="/" (the list filters)
"use strict";
document.addEventListener("change", function (event) {
  var el = event.target;
  if (el && el.hasAttribute && el.hasAttribute("data-autosubmit") && el.form) {
    el.form.requestSubmit ? el.form.requestSubmit() : el.form.submit();
  }
});
document.addEventListener("keydown", function (event) {
  if (event.key !== "/" || event.ctrlKey || event.metaKey || event.altKey) return;
  var active = document.activeElement;
  if (active && /^(INPUT|TEXTAREA|SELECT)$/.test(active.tagName)) return;
  var field = document.querySelector('[data-focus-key="/"]');
  if (field) { event.preventDefault(); field.focus(); field.select(); }
});
