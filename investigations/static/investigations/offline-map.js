/*
 * What the investigator maps share (vendored Leaflet, nothing fetched from a CDN).
 *
 * Background tiles only when settings.MAP_TILE_URL is set; otherwise the markers are
 * drawn on a plain background with a graticule, so the pages work offline and no
 * third-party tile server learns which places an investigation is looking at.
 */
(function () {
  "use strict";

  function create(element) {
    var tileUrl = JSON.parse(document.getElementById("map-tile-url").textContent);
    var map = L.map(element, { worldCopyJump: true, attributionControl: Boolean(tileUrl) });
    if (tileUrl) {
      L.tileLayer(tileUrl, { maxZoom: 19 }).addTo(map);
    } else {
      drawGraticule(map);
    }
    L.control.scale({ imperial: false }).addTo(map);
    map.hasTiles = Boolean(tileUrl);
    return map;
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

  function photoMarker(map, place, label, title) {
    // A square labelled like the photo: unlike any hotel marker, and drawn under them.
    var icon = L.divIcon({ className: "inv-map-query", html: escapeHtml(label), iconSize: [label.length * 7 + 12, 18] });
    return L.marker([place.lat, place.lon], { icon: icon, zIndexOffset: -1000, keyboard: false, title: title })
      .bindPopup(escapeHtml(title))
      .addTo(map);
  }

  function framer(map, bounds) {
    return function frame() {
      if (bounds.length === 1) {
        map.setView(bounds[0], map.hasTiles ? 13 : 6);
      } else {
        map.fitBounds(bounds, { padding: [30, 30], maxZoom: 14 });
      }
    };
  }

  function fitControl(map, frame, title) {
    var FitControl = L.Control.extend({
      options: { position: "topright" },
      onAdd: function () {
        var button = L.DomUtil.create("button", "inv-map-fit");
        button.type = "button";
        button.textContent = "Fit all";
        button.title = title;
        L.DomEvent.disableClickPropagation(button);
        L.DomEvent.on(button, "click", frame);
        return button;
      },
    });
    new FitControl().addTo(map);
  }

  function keepFramed(map, element, frame) {
    // Phones rotate and desktops resize: keep every marker in view.
    if (!window.ResizeObserver) return;
    var lastWidth = element.clientWidth;
    new ResizeObserver(function () {
      if (element.clientWidth === lastWidth) return;
      lastWidth = element.clientWidth;
      map.invalidateSize();
      frame();
    }).observe(element);
  }

  var SPREAD_PX = 16; // markers closer than this on screen are fanned out around their spot

  function spreader(map, markers) {
    // Markers on one spot (or nearly) are fanned out on a small circle, so every one
    // stays visible and clickable; each returns to its true place when zoomed apart.
    // A marker's `point` holds its true lat/lon and its rank (null: after the ranked).
    function order(marker) {
      return marker.point.rank === null ? Infinity : marker.point.rank;
    }
    return function spread() {
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
            return order(a) - order(b);
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
    };
  }

  function escapeHtml(text) {
    var div = document.createElement("div");
    div.textContent = String(text);
    return div.innerHTML;
  }

  window.OfflineMap = {
    create: create,
    photoMarker: photoMarker,
    framer: framer,
    fitControl: fitControl,
    keepFramed: keepFramed,
    spreader: spreader,
    escapeHtml: escapeHtml,
  };
})();
