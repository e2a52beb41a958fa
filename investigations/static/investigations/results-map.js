/*
 * Map of the ranked hotels of one search (offline-map.js: no tiles unless configured).
 */
(function () {
  "use strict";

  var element = document.getElementById("results-map");
  if (!element || !window.L || !window.OfflineMap) return;
  var points = JSON.parse(document.getElementById("map-points").textContent);
  if (!points.length) return;

  var map = OfflineMap.create(element);
  var escapeHtml = OfflineMap.escapeHtml;
  var queryPoint = JSON.parse(document.getElementById("map-query-point").textContent);

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
    OfflineMap.photoMarker(map, queryPoint, "photo", "Where the query photo was taken (its GPS tags)");
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

  var frame = OfflineMap.framer(map, bounds);
  OfflineMap.fitControl(
    map, frame, "Show every ranked hotel" + (queryPoint ? " and the photo's position" : "")
  );
  var spread = OfflineMap.spreader(map, markers);
  map.on("zoomend viewreset", spread);
  frame();
  spread();
  OfflineMap.keepFramed(map, element, frame);
})();
