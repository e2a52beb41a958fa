"use strict";
// Keyboard shortcuts on a photo's admin page (templates/admin/rooms/roomimage/change_form.html):
// a approve, h hide, j or n next, k or p previous, q the queue. Each key clicks the page's
// own button or link, so what it does is what the page shows; a key typed into a field, or
// with a modifier, is left alone. A decision is sent once: keys are ignored after it.
(function () {
  const TARGETS = {
    a: "moderation-approve",
    h: "moderation-hide",
    j: "moderation-next",
    n: "moderation-next",
    k: "moderation-previous",
    p: "moderation-previous",
    q: "moderation-queue",
  };
  let sent = false;

  function typing(target) {
    return target instanceof Element && target.closest("input, textarea, select, [contenteditable]") !== null;
  }

  document.addEventListener("submit", (event) => {
    if (event.target.closest(".moderation-decisions")) sent = true;
  });
  window.addEventListener("pageshow", () => {
    sent = false; // back to this page from the browser's history: the keys work again
  });

  document.addEventListener("keydown", (event) => {
    if (sent || event.repeat || event.ctrlKey || event.metaKey || event.altKey || typing(event.target)) {
      return;
    }
    const target = TARGETS[event.key] && document.getElementById(TARGETS[event.key]);
    if (!target) return;
    event.preventDefault();
    target.click();
  });
})();
