/*
 * Map of a case (offline-map.js: no tiles unless configured): its candidate hotels
 * (blue, numbered by rank), the hotels the team confirmed (green, ✓) and where each
 * photo was taken by its own GPS tags (black squares).
 */
(function () {
  "use strict";

  var element = document.getElementById("case-map");
  if (!element || !window.L || !window.OfflineMap) return;
  var data = JSON.parse(document.getElementById("case-map-data").textContent);
  var map = OfflineMap.create(element);
  var escapeHtml = OfflineMap.escapeHtml;

  // Added from the last rank to the first: later layers draw on top, so #1 stays visible.
  var markers = data.hotels
    .slice()
    .sort(function (a, b) {
      return (b.rank || Infinity) - (a.rank || Infinity);
    })
    .map(addHotel);
  data.photos.forEach(function (photo) {
    OfflineMap.photoMarker(map, photo, photo.label, photo.label + ": where it was taken (its GPS tags)");
  });
  var bounds = data.hotels.concat(data.photos).map(function (point) {
    return [point.lat, point.lon];
  });

  function addHotel(point) {
    var marker = L.circleMarker([point.lat, point.lon], {
      radius: point.confirmed || point.rank === 1 ? 11 : 8,
      color: point.confirmed ? "#0b3d17" : "#ffffff",
      weight: point.confirmed ? 4 : 2,
      fillColor: point.confirmed ? "#1e7b34" : "#1f5fbf",
      fillOpacity: 0.9,
      className: point.confirmed ? "case-map-confirmed" : "case-map-candidate",
    }).addTo(map);
    marker.point = point;
    var label = (point.confirmed ? "✓ " : "") + (point.rank === null ? "" : String(point.rank));
    marker.bindTooltip(label.trim(), { permanent: true, direction: "top", offset: [0, -8] });
    var rank = point.rank === null ? "" : point.rank + ". ";
    var score = point.score === null ? "" : "<br>score " + Number(point.score).toFixed(3);
    marker.bindPopup(
      "<strong>" + escapeHtml(rank + point.name) + "</strong><br>" + escapeHtml(point.city) +
        score + (point.confirmed ? "<br>Confirmed by your team" : "")
    );
    return marker;
  }

  var frame = OfflineMap.framer(map, bounds);
  OfflineMap.fitControl(map, frame, "Show every hotel and photo position");
  var spread = OfflineMap.spreader(map, markers);
  map.on("zoomend viewreset", spread);
  frame();
  spread();
  OfflineMap.keepFramed(map, element, frame);
})();
