/*
 * Map of the ranked hotels (vendored Leaflet, nothing fetched from a CDN).
 *
 * Background tiles only when settings.MAP_TILE_URL is set; otherwise the markers are
 * drawn on a plain background with a graticule, so the page works offline and no
 * third-party tile server learns which places an investigation is looking at.
 */
(function () {
  "use strict";

  var element = document.getElementById("results-map");
  if (!element || !window.L) return;
  var points = JSON.parse(document.getElementById("map-points").textContent);
  var tileUrl = JSON.parse(document.getElementById("map-tile-url").textContent);
  if (!points.length) return;

  var map = L.map(element, { worldCopyJump: true, attributionControl: Boolean(tileUrl) });
  if (tileUrl) {
    L.tileLayer(tileUrl, { maxZoom: 19 }).addTo(map);
  } else {
    drawGraticule(map);
  }
  L.control.scale({ imperial: false }).addTo(map);

  var queryPoint = JSON.parse(document.getElementById("map-query-point").textContent);
  var SPREAD_PX = 16; // markers closer than this on screen are fanned out around their spot

  // Added from the last rank to the first: later layers draw on top, so #1 stays visible.
  var markers = points
    .slice()
    .sort(function (a, b) {
      return b.rank - a.rank;
    })
    .map(addHotel);
  var bounds = points.map(function (point) {
    return [point.lat, point.lon];
  });
  if (queryPoint) {
    addQueryPhoto(queryPoint);
    bounds.push([queryPoint.lat, queryPoint.lon]);
  }

  function addHotel(point) {
    // Vector markers: no marker images to load, and the rank is readable at a glance.
    var marker = L.circleMarker([point.lat, point.lon], {
      radius: point.rank === 1 ? 11 : 8,
      color: "#ffffff",
      weight: 2,
      fillColor: point.rank === 1 ? "#b3261e" : "#1f5fbf",
      fillOpacity: 0.9,
    }).addTo(map);
    marker.point = point;
    marker.bindTooltip(String(point.rank), { permanent: true, direction: "top", offset: [0, -8] });
    var distance = point.distance_km === null ? "" :
      "<br>" + Number(point.distance_km).toFixed(1) + " km from the query photo's GPS position";
    marker.bindPopup(
      "<strong>" + escapeHtml(point.rank + ". " + point.name) + "</strong><br>" +
        escapeHtml(point.city) + "<br>score " + Number(point.score).toFixed(3) + distance
    );
    marker.on("click", function () {
      var card = document.getElementById("hotel-" + point.hotel_id);
      if (card) card.scrollIntoView({ behavior: "smooth", block: "nearest" });
    });
    return marker;
  }

  function addQueryPhoto(place) {
    // A square labelled "photo": unlike any hotel marker, and drawn under them.
    var icon = L.divIcon({ className: "inv-map-query", html: "photo", iconSize: [40, 18] });
    L.marker([place.lat, place.lon], { icon: icon, zIndexOffset: -1000, keyboard: false, title: "Where the query photo was taken (its GPS tags)" })
      .bindPopup("Where the query photo was taken, by its own GPS tags")
      .addTo(map);
  }

  function spread() {
    // Hotels on one spot (or nearly) are fanned out on a small circle, so every rank
    // stays visible and clickable; each returns to its true place when zoomed apart.
    var groups = [];
    markers.forEach(function (marker) {
      var spot = map.latLngToLayerPoint([marker.point.lat, marker.point.lon]);
      var group = groups.find(function (g) {
        return g.spot.distanceTo(spot) < SPREAD_PX;
      });
      if (group) group.members.push(marker);
      else groups.push({ spot: spot, members: [marker] });
    });
    groups.forEach(function (group) {
      var count = group.members.length;
      group.members
        .sort(function (a, b) {
          return a.point.rank - b.point.rank;
        })
        .forEach(function (marker, index) {
          var offset = L.point(0, 0);
          if (count > 1) {
            var angle = -Math.PI / 2 + (2 * Math.PI * index) / count;
            var radius = SPREAD_PX + 2 * count;
            offset = L.point(Math.cos(angle) * radius, Math.sin(angle) * radius);
          }
          marker.setLatLng(map.layerPointToLatLng(group.spot.add(offset)));
        });
    });
  }

  function frame() {
    if (bounds.length === 1) {
      map.setView(bounds[0], tileUrl ? 13 : 6);
    } else {
      map.fitBounds(bounds, { padding: [30, 30], maxZoom: 14 });
    }
  }

  var FitControl = L.Control.extend({
    options: { position: "topright" },
    onAdd: function () {
      var button = L.DomUtil.create("button", "inv-map-fit");
      button.type = "button";
      button.textContent = "Fit all";
      button.title = "Show every ranked hotel" + (queryPoint ? " and the photo's position" : "");
      L.DomEvent.disableClickPropagation(button);
      L.DomEvent.on(button, "click", frame);
      return button;
    },
  });
  new FitControl().addTo(map);
  map.on("zoomend viewreset", spread);
  frame();
  spread();
  // Phones rotate and desktops resize: keep every ranked hotel in view.
  if (window.ResizeObserver) {
    var lastWidth = element.clientWidth;
    new ResizeObserver(function () {
      if (element.clientWidth === lastWidth) return;
      lastWidth = element.clientWidth;
      map.invalidateSize();
      frame();
    }).observe(element);
  }

  function drawGraticule(target) {
    // Lines every 10 degrees give a sense of scale and direction without any tiles.
    var style = { color: "#9aa6b8", weight: 1, opacity: 0.6, interactive: false };
    for (var lat = -80; lat <= 80; lat += 10) {
      L.polyline([[lat, -180], [lat, 180]], style).addTo(target);
    }
    for (var lon = -180; lon <= 180; lon += 10) {
      L.polyline([[-85, lon], [85, lon]], style).addTo(target);
    }
  }

  function escapeHtml(text) {
    var div = document.createElement("div");
    div.textContent = String(text);
    return div.innerHTML;
  }
})();
