// The desk's keyboard habits; no inline script anywhere (the pages' CSP allows none).
(function () {
  "use strict";

  function typing(el) {
    return el && (el.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(el.tagName));
  }

  // "/" focuses the header search, where a scanner types a card number or an ISBN.
  document.addEventListener("keydown", function (event) {
    if (event.key === "/" && !event.ctrlKey && !event.metaKey && !event.altKey && !typing(event.target)) {
      var box = document.getElementById("header-search");
      if (box) {
        event.preventDefault();
        box.focus();
        box.select();
      }
    }
  });

  // Forms that destroy something ask first.
  document.addEventListener("submit", function (event) {
    var message = event.target.getAttribute("data-confirm");
    if (message && !window.confirm(message)) {
      event.preventDefault();
    }
  });

  // A request htmx could not swap (a refused CSRF token, a server error) says so.
  document.addEventListener("htmx:responseError", function () {
    var note = document.getElementById("request-error");
    if (note) { note.hidden = false; }
  });
  document.addEventListener("htmx:sendError", function () {
    var note = document.getElementById("request-error");
    if (note) { note.hidden = false; }
  });
})();
