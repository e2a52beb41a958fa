/*
 * Checks the place filters in the browser before a search form is sent, so a slip
 * (latitude without longitude, a three-letter country) costs no round trip and, on
 * the search page, never the chosen photo or the painted mask.
 *
 * Applies to every form[data-check-filters]. The server checks the same again: this
 * only says it sooner, next to the field.
 */
(function () {
  "use strict";

  function value(form, name) {
    var field = form.elements[name];
    return field ? String(field.value).trim() : "";
  }

  function inRange(text, low, high) {
    var number = Number(text);
    return text !== "" && isFinite(number) && number >= low && number <= high;
  }

  function problems(form) {
    var found = {};
    var country = value(form, "country");
    var lat = value(form, "latitude");
    var lon = value(form, "longitude");
    if (country && !/^[A-Za-z]{2}$/.test(country)) {
      found.country = "Use a two-letter country code, e.g. US.";
    }
    if (lat && !lon) found.longitude = "Give the longitude too, or clear the latitude.";
    if (lon && !lat) found.latitude = "Give the latitude too, or clear the longitude.";
    if (lat && !inRange(lat, -90, 90)) found.latitude = "A latitude is a number from -90 to 90.";
    if (lon && !inRange(lon, -180, 180)) {
      found.longitude = "A longitude is a number from -180 to 180.";
    }
    if ((lat || lon) && !value(form, "radius_km")) {
      found.radius_km = "Give a radius to search near a place.";
    }
    return found;
  }

  function clear(form) {
    form.querySelectorAll(".client-error").forEach(function (node) {
      node.remove();
    });
    form.querySelectorAll("[data-client-invalid]").forEach(function (field) {
      field.removeAttribute("aria-invalid");
      field.removeAttribute("data-client-invalid");
    });
  }

  function show(form, found) {
    var first = null;
    Object.keys(found).forEach(function (name) {
      var wrapper = form.querySelector('[data-field="' + name + '"]');
      var field = form.elements[name];
      if (!wrapper || !field) return;
      var message = document.createElement("p");
      message.className = "error client-error";
      message.id = field.id + "_client_error";
      message.textContent = found[name];
      wrapper.appendChild(message);
      field.setAttribute("aria-invalid", "true");
      field.setAttribute("data-client-invalid", "");
      // Read out with the field when it gets focus.
      var described = (field.getAttribute("aria-describedby") || "").split(" ");
      if (described.indexOf(message.id) < 0) described.push(message.id);
      field.setAttribute("aria-describedby", described.join(" ").trim());
      first = first || field;
    });
    if (first) first.focus();
  }

  document.querySelectorAll("form[data-check-filters]").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      clear(form);
      var found = problems(form);
      if (!Object.keys(found).length) return;
      // Stop here, before any other submit handler (the eraser's) sends anything.
      event.preventDefault();
      event.stopImmediatePropagation();
      show(form, found);
    });
  });
})();
