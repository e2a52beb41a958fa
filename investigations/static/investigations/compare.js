/*
 * Compare view: the query and one matched traveller photo side by side.
 *
 * Both panes share one view (zoom and pan, in fractions of the pane), so the same
 * part of each photo stays in sight while the investigator looks for the details
 * that make or break the match. Heat maps and matching points are overlays drawn in
 * each photo's own frame; they are fetched only when first shown.
 *
 * Without JS the page still shows both photos, the facts and the decision form.
 */
(function () {
  "use strict";

  var root = document.getElementById("compare");
  if (!root) return;

  var MIN_SCALE = 1;
  var MAX_SCALE = 8;
  var STEP = 1.25;
  var viewports = Array.prototype.slice.call(root.querySelectorAll(".cmp-viewport"));
  var heatButton = document.getElementById("cmp-heat");
  var pointsButton = document.getElementById("cmp-points");
  var zoomLevel = document.getElementById("cmp-zoom-level");
  var status = document.getElementById("cmp-status");
  var pointsUrl = JSON.parse(document.getElementById("cmp-points-url").textContent);
  var view = { s: 1, x: 0, y: 0 }; // scale; pan as fractions of the pane's size
  var points = null; // the correspondences JSON, once fetched

  document.getElementById("cmp-toolbar").hidden = false;
  root.classList.add("cmp-live");

  // --- layout and the shared view -----------------------------------------------------

  function clamp(value, low, high) {
    return Math.min(high, Math.max(low, value));
  }

  function fitFrame(viewport) {
    // The photo fitted (contained) and centred; its overlays take the frame's box.
    var photo = viewport.querySelector(".cmp-photo");
    var frame = viewport.querySelector(".cmp-frame");
    if (!photo.naturalWidth) return;
    var fit = Math.min(
      viewport.clientWidth / photo.naturalWidth,
      viewport.clientHeight / photo.naturalHeight
    );
    var width = photo.naturalWidth * fit;
    var height = photo.naturalHeight * fit;
    frame.style.width = width + "px";
    frame.style.height = height + "px";
    frame.style.left = (viewport.clientWidth - width) / 2 + "px";
    frame.style.top = (viewport.clientHeight - height) / 2 + "px";
  }

  function apply() {
    // Zoomed in, the photo must still cover the pane: no panning into emptiness.
    view.s = clamp(view.s, MIN_SCALE, MAX_SCALE);
    view.x = clamp(view.x, 1 - view.s, 0);
    view.y = clamp(view.y, 1 - view.s, 0);
    viewports.forEach(function (viewport) {
      var stage = viewport.querySelector(".cmp-stage");
      stage.style.transform =
        "translate(" + view.x * viewport.clientWidth + "px, " +
        view.y * viewport.clientHeight + "px) scale(" + view.s + ")";
    });
    zoomLevel.textContent = Math.round(view.s * 100) + "%";
    root.dataset.zoom = view.s.toFixed(3);
  }

  function zoomAt(factor, fx, fy) {
    // (fx, fy): the point of the pane, as fractions, that stays where it is.
    var scale = clamp(view.s * factor, MIN_SCALE, MAX_SCALE);
    var ratio = scale / view.s;
    view.x = fx - (fx - view.x) * ratio;
    view.y = fy - (fy - view.y) * ratio;
    view.s = scale;
    apply();
  }

  function reset() {
    view = { s: 1, x: 0, y: 0 };
    apply();
  }

  function relayout() {
    viewports.forEach(fitFrame);
    apply();
  }

  viewports.forEach(function (viewport) {
    var photo = viewport.querySelector(".cmp-photo");
    if (photo.complete) fitFrame(viewport);
    photo.addEventListener("load", function () {
      fitFrame(viewport);
      if (pointsButton.getAttribute("aria-pressed") === "true") drawPoints();
    });

    viewport.addEventListener(
      "wheel",
      function (event) {
        event.preventDefault(); // the page must not scroll while zooming a photo
        var box = viewport.getBoundingClientRect();
        var factor = Math.exp(-event.deltaY * 0.0015);
        zoomAt(factor, (event.clientX - box.left) / box.width, (event.clientY - box.top) / box.height);
      },
      { passive: false }
    );

    var drag = null;
    viewport.addEventListener("pointerdown", function (event) {
      if (event.pointerType === "mouse" && event.button !== 0) return;
      viewport.setPointerCapture(event.pointerId);
      drag = { x: event.clientX, y: event.clientY, view: { s: view.s, x: view.x, y: view.y } };
      viewport.classList.add("cmp-dragging");
    });
    viewport.addEventListener("pointermove", function (event) {
      if (!drag) return;
      view.x = drag.view.x + (event.clientX - drag.x) / viewport.clientWidth;
      view.y = drag.view.y + (event.clientY - drag.y) / viewport.clientHeight;
      apply();
    });
    function endDrag() {
      drag = null;
      viewport.classList.remove("cmp-dragging");
    }
    viewport.addEventListener("pointerup", endDrag);
    viewport.addEventListener("pointercancel", endDrag);
  });

  document.getElementById("cmp-zoom-in").addEventListener("click", function () {
    zoomAt(STEP, 0.5, 0.5);
  });
  document.getElementById("cmp-zoom-out").addEventListener("click", function () {
    zoomAt(1 / STEP, 0.5, 0.5);
  });
  document.getElementById("cmp-zoom-reset").addEventListener("click", reset);

  var resizeTimer = null;
  window.addEventListener("resize", function () {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(relayout, 100);
  });

  // --- overlays -----------------------------------------------------------------------

  function setPressed(button, on) {
    button.setAttribute("aria-pressed", on ? "true" : "false");
    // Kept for the next match, so stepping through matches keeps the same overlays.
    try {
      sessionStorage.setItem(button.id, on ? "1" : "");
    } catch (err) {
      // Storage refused (private mode): the toggle still works on this page.
    }
  }

  function showHeat(on) {
    setPressed(heatButton, on);
    root.querySelectorAll(".cmp-heat").forEach(function (overlay) {
      if (on && !overlay.getAttribute("src")) overlay.src = overlay.dataset.src;
      overlay.hidden = !on;
    });
    if (on) status.textContent = "Heat maps: warm areas are where the two photos look alike.";
  }

  function showPoints(on) {
    setPressed(pointsButton, on);
    root.querySelectorAll(".cmp-svg").forEach(function (svg) {
      svg.toggleAttribute("hidden", !on); // an SVG element has no .hidden property
    });
    if (!on) return;
    if (points) return drawPoints();
    status.textContent = "Loading matching points…";
    fetch(pointsUrl, { credentials: "same-origin" })
      .then(function (response) {
        if (!response.ok) throw new Error("HTTP " + response.status);
        return response.json();
      })
      .then(function (data) {
        points = data;
        drawPoints();
      })
      .catch(function (err) {
        status.textContent = "Could not load the matching points (" + err.message + ").";
      });
  }

  function drawPoints() {
    if (!points) return;
    var pairs = points.pairs || [];
    status.textContent = pairs.length
      ? pairs.length + " matching point" + (pairs.length === 1 ? "" : "s") +
        (points.verified ? " in a consistent layout (verified)." : "; not verified.")
      : "No matching points were found between these photos.";
    viewports.forEach(function (viewport, side) {
      var photo = viewport.querySelector(".cmp-photo");
      if (!photo.naturalWidth) return; // drawn again once it loads
      drawPane(viewport.querySelector(".cmp-svg"), pairs, side, photo.naturalWidth, photo.naturalHeight);
    });
  }

  function drawPane(svg, pairs, side, width, height) {
    // Pairs are fractions of each photo: [qx, qy, gx, gy]; side 0 = query, 1 = gallery.
    var ns = "http://www.w3.org/2000/svg";
    var radius = Math.max(width, height) * 0.009;
    svg.setAttribute("viewBox", "0 0 " + width + " " + height);
    svg.textContent = "";
    pairs.forEach(function (pair, index) {
      var x = pair[side * 2] * width;
      var y = pair[side * 2 + 1] * height;
      // The same colour and number on both photos: partners are easy to find.
      var colour = "hsl(" + ((index * 47) % 360) + ", 90%, 55%)";
      var dot = document.createElementNS(ns, "circle");
      dot.setAttribute("cx", x);
      dot.setAttribute("cy", y);
      dot.setAttribute("r", radius);
      dot.setAttribute("fill", colour);
      dot.setAttribute("stroke", "#000");
      dot.setAttribute("stroke-width", radius * 0.25);
      svg.appendChild(dot);
      var label = document.createElementNS(ns, "text");
      label.setAttribute("x", x + radius * 1.2);
      label.setAttribute("y", y - radius * 1.2);
      label.setAttribute("font-size", radius * 2);
      label.setAttribute("fill", colour);
      label.setAttribute("stroke", "#000");
      label.setAttribute("stroke-width", radius * 0.15);
      label.textContent = String(index + 1);
      svg.appendChild(label);
    });
  }

  heatButton.addEventListener("click", function () {
    showHeat(heatButton.getAttribute("aria-pressed") !== "true");
  });
  pointsButton.addEventListener("click", function () {
    showPoints(pointsButton.getAttribute("aria-pressed") !== "true");
  });

  // --- keyboard -----------------------------------------------------------------------

  function follow(id) {
    var link = document.getElementById(id);
    if (link) window.location.assign(link.href);
  }

  var KEYS = {
    ArrowLeft: function () { follow("cmp-prev"); },
    j: function () { follow("cmp-prev"); },
    ArrowRight: function () { follow("cmp-next"); },
    k: function () { follow("cmp-next"); },
    h: function () { heatButton.click(); },
    c: function () { pointsButton.click(); },
    "0": reset,
    "+": function () { zoomAt(STEP, 0.5, 0.5); },
    "=": function () { zoomAt(STEP, 0.5, 0.5); },
    "-": function () { zoomAt(1 / STEP, 0.5, 0.5); },
  };

  document.addEventListener("keydown", function (event) {
    // Typing a note must not flip overlays or leave the page.
    var target = event.target;
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    if (/^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName) || target.isContentEditable) return;
    var action = KEYS[event.key];
    if (!action) return;
    event.preventDefault();
    action();
  });

  function restored(id) {
    try {
      return sessionStorage.getItem(id) === "1";
    } catch (err) {
      return false;
    }
  }

  if (restored("cmp-heat")) showHeat(true);
  if (restored("cmp-points")) showPoints(true);
  relayout();
})();
