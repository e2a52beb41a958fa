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

  var bounds = [];
  points.forEach(function (point) {
    var latlng = [point.lat, point.lon];
    bounds.push(latlng);
    // Vector markers: no marker images to load, and the rank is readable at a glance.
    var marker = L.circleMarker(latlng, {
      radius: point.rank === 1 ? 11 : 8,
      color: "#ffffff",
      weight: 2,
      fillColor: point.rank === 1 ? "#b3261e" : "#1f5fbf",
      fillOpacity: 0.9,
    }).addTo(map);
    marker.bindTooltip(String(point.rank), { permanent: true, direction: "top", offset: [0, -8] });
    marker.bindPopup(
      "<strong>" + escapeHtml(point.rank + ". " + point.name) + "</strong><br>" +
        escapeHtml(point.city) + "<br>score " + Number(point.score).toFixed(3)
    );
    marker.on("click", function () {
      var card = document.querySelector('.hotel-result:nth-child(' + point.rank + ')');
      if (card) card.scrollIntoView({ behavior: "smooth", block: "nearest" });
    });
  });
  function frame() {
    if (bounds.length === 1) {
      map.setView(bounds[0], tileUrl ? 13 : 6);
    } else {
      map.fitBounds(bounds, { padding: [30, 30], maxZoom: 14 });
    }
  }
  frame();
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
