// Upload page enhancements: live hotel search, "Use my location", photo count.
// Without JavaScript the page still works: search reloads the page, the form posts.
(function () {
  "use strict";
  var searchForm = document.getElementById("hotel-search");
  var results = document.getElementById("hotel-results");
  var status = document.getElementById("hotel-status");
  var locate = document.getElementById("use-location");
  var uploadForm = document.getElementById("upload-form");
  var photos = uploadForm.querySelector("input[type=file]");
  var photoCount = document.getElementById("photo-count");
  var submit = document.getElementById("upload-submit");
  var api = searchForm.dataset.api;
  var MAX_PHOTOS = 4;
  var pending = null;

  function describe(hotel) {
    var place = [hotel.address, hotel.city, hotel.country_code].filter(Boolean).join(", ");
    if (typeof hotel.distance_km === "number") {
      var d = hotel.distance_km;
      place += " · " + (d < 1 ? Math.round(d * 1000) + " m" : d.toFixed(1) + " km") + " away";
    }
    return place;
  }

  // Built with DOM nodes, never innerHTML: hotel names come from an imported catalogue.
  function show(hotels, emptyMessage) {
    results.replaceChildren();
    hotels.forEach(function (hotel, i) {
      var input = document.createElement("input");
      input.type = "radio";
      input.name = "hotel";
      input.value = hotel.id;
      input.required = true;
      input.checked = hotels.length === 1 && i === 0;
      var name = document.createElement("strong");
      name.textContent = hotel.name;
      var place = document.createElement("span");
      place.className = "muted";
      place.textContent = describe(hotel);
      var text = document.createElement("span");
      text.append(name, place);
      var label = document.createElement("label");
      label.append(input, text);
      var item = document.createElement("li");
      item.append(label);
      results.append(item);
    });
    status.textContent = hotels.length ? "Choose your hotel below." : emptyMessage;
  }

  function search(params, emptyMessage) {
    if (pending) pending.abort();
    pending = new AbortController();
    status.textContent = "Searching…";
    fetch(api + "?" + new URLSearchParams(params), {
      headers: { Accept: "application/json" },
      signal: pending.signal,
    })
      .then(function (response) {
        return response.json().then(function (body) {
          if (!response.ok) {
            var reasons = Object.values(body).flat().join(" ");
            throw new Error(reasons || "Search failed (" + response.status + ").");
          }
          return body;
        });
      })
      .then(function (body) { show(body.results, emptyMessage); })
      .catch(function (error) {
        if (error.name !== "AbortError") status.textContent = error.message;
      });
  }

  searchForm.addEventListener("submit", function (event) {
    event.preventDefault();
    var q = searchForm.elements.q.value.trim();
    if (!q) {
      status.textContent = "Type part of the hotel's name.";
      return;
    }
    search({ q: q }, "No hotel matches “" + q + "”. Try part of the name.");
  });

  if ("geolocation" in navigator) {
    locate.hidden = false;
    locate.addEventListener("click", function () {
      status.textContent = "Finding your location…";
      navigator.geolocation.getCurrentPosition(
        function (position) {
          var near = position.coords.latitude.toFixed(5) + "," + position.coords.longitude.toFixed(5);
          search({ near: near }, "No hotel found near you; search by name instead.");
        },
        function () {
          status.textContent = "Your location is not available; search by name instead.";
        },
        { enableHighAccuracy: true, timeout: 15000, maximumAge: 60000 }
      );
    });
  }

  photos.addEventListener("change", function () {
    var count = photos.files.length;
    photoCount.textContent = count > MAX_PHOTOS
      ? count + " photos chosen: please choose at most " + MAX_PHOTOS + "."
      : count ? count + " photo" + (count === 1 ? "" : "s") + " chosen." : "";
  });

  uploadForm.addEventListener("submit", function () {
    // One upload per tap: slow mobile networks tempt a second press.
    submit.disabled = true;
    submit.textContent = "Sending…";
  });
  window.addEventListener("pageshow", function () {
    submit.disabled = false;
    submit.textContent = "Send photos";
  });
})();
