// Upload page enhancements: live hotel search, "Use my location", and the photo upload
// (checks before sending, previews, shrinking, a progress bar, automatic retries).
// Without JavaScript the page still works: search reloads the page, the form posts.
// Every word shown comes translated from the server (#upload-config, views.py).
(function () {
  "use strict";
  var config = JSON.parse(document.getElementById("upload-config").textContent);
  var words = config.messages;

  function say(key, values) {
    return words[key].replace(/%\((\w+)\)s/g, function (_, name) { return values[name]; });
  }

  // --- hotel search ---------------------------------------------------------------------

  var searchForm = document.getElementById("hotel-search");
  var results = document.getElementById("hotel-results");
  var hotelStatus = document.getElementById("hotel-status");
  var locate = document.getElementById("use-location");
  var pending = null;

  function describe(hotel) {
    var place = [hotel.address, hotel.city, hotel.country_code].filter(Boolean).join(", ");
    if (typeof hotel.distance_km === "number") {
      var d = hotel.distance_km;
      var distance = d < 1 ? Math.round(d * 1000) + " m" : d.toFixed(1) + " km";
      place += " · " + say("away", { distance: distance });
    }
    return place;
  }

  // Built with DOM nodes, never innerHTML: hotel names come from an imported catalogue.
  function showHotels(hotels, emptyMessage) {
    results.replaceChildren();
    hotels.forEach(function (hotel, i) {
      var input = document.createElement("input");
      input.type = "radio";
      input.name = "hotel";
      input.value = hotel.id;
      input.checked = hotels.length === 1 && i === 0;
      var name = document.createElement("strong");
      name.textContent = hotel.name;
      name.dir = "auto"; // a catalogue's name and address keep their own direction
      var place = document.createElement("span");
      place.className = "muted";
      place.dir = "auto";
      place.textContent = describe(hotel);
      var text = document.createElement("span");
      text.append(name, place);
      var label = document.createElement("label");
      label.append(input, text);
      var item = document.createElement("li");
      item.append(label);
      results.append(item);
    });
    hotelStatus.textContent = hotels.length ? words.chooseBelow : emptyMessage;
  }

  function search(params, emptyMessage) {
    if (pending) pending.abort();
    pending = new AbortController();
    hotelStatus.textContent = words.searching;
    fetch(searchForm.dataset.api + "?" + new URLSearchParams(params), {
      headers: { Accept: "application/json" },
      signal: pending.signal,
    })
      .then(function (response) {
        return response.json().then(function (body) {
          if (!response.ok) {
            var reasons = Object.values(body).flat().join(" ");
            throw new Error(reasons || say("searchFailed", { status: response.status }));
          }
          return body;
        });
      })
      .then(function (body) { showHotels(body.results, emptyMessage); })
      .catch(function (error) {
        if (error.name !== "AbortError") hotelStatus.textContent = error.message;
      });
  }

  searchForm.addEventListener("submit", function (event) {
    event.preventDefault();
    var q = searchForm.elements.q.value.trim();
    if (!q) {
      hotelStatus.textContent = words.typeName;
      return;
    }
    search({ q: q }, say("noMatch", { q: q }));
  });

  function withPosition(button, status, found) {
    if (!("geolocation" in navigator)) return;
    button.hidden = false;
    button.addEventListener("click", function () {
      status.textContent = words.locating;
      navigator.geolocation.getCurrentPosition(
        found,
        function () { status.textContent = words.noLocation; },
        { enableHighAccuracy: true, timeout: 15000, maximumAge: 60000 }
      );
    });
  }

  withPosition(locate, hotelStatus, function (position) {
    var near = position.coords.latitude.toFixed(5) + "," + position.coords.longitude.toFixed(5);
    search({ near: near }, words.noneNear);
  });

  // --- "My hotel is not listed": its position from the phone ----------------------------

  var form = document.getElementById("upload-form");
  var proposalStatus = document.getElementById("proposal-locate-status");
  withPosition(document.getElementById("proposal-locate"), proposalStatus, function (position) {
    form.elements["new-latitude"].value = position.coords.latitude.toFixed(6);
    form.elements["new-longitude"].value = position.coords.longitude.toFixed(6);
    proposalStatus.textContent = say("located", { metres: Math.round(position.coords.accuracy) });
    forgetToken();
  });

  // --- the chosen photos ----------------------------------------------------------------

  var picker = form.querySelector("input[type=file]");
  var pickerLabel = form.querySelector(".picker-label");
  var photoList = document.getElementById("photo-list");
  var photoCount = document.getElementById("photo-count");
  var photoErrors = document.getElementById("error-images");
  var submit = document.getElementById("upload-submit");
  var progressBox = document.getElementById("send-progress");
  var progress = document.getElementById("upload-progress");
  var progressText = document.getElementById("progress-text");
  var summary = document.getElementById("error-summary");
  var summaryList = document.getElementById("error-summary-list");
  var photos = []; // {file, name, info, url, refused}
  var sending = false;
  var token = null; // one per submission: the same for every try of one send

  form.classList.add("enhanced");
  form.noValidate = true; // the checks below say more than the browser's bubbles
  picker.removeAttribute("capture"); // choose from the gallery too, not only the camera
  // The photos travel in the script's request, not in the input.
  picker.removeAttribute("name");

  function forgetToken() {
    // The traveller changed something: the next send is a different submission.
    if (!sending) token = null;
  }

  function newToken() {
    var b = crypto.getRandomValues(new Uint8Array(16));
    b[6] = (b[6] & 0x0f) | 0x40; // version 4
    b[8] = (b[8] & 0x3f) | 0x80;
    var hex = Array.from(b, function (x) { return x.toString(16).padStart(2, "0"); }).join("");
    return [hex.slice(0, 8), hex.slice(8, 12), hex.slice(12, 16), hex.slice(16, 20), hex.slice(20)].join("-");
  }

  function megabytes(bytes) {
    return (bytes / (1024 * 1024)).toFixed(1);
  }

  function shortSize(bytes) {
    return bytes < 1024 * 1024 ? Math.ceil(bytes / 1024) + " KB" : megabytes(bytes) + " MB";
  }

  function refusal(file, info) {
    var name = file.name;
    if (!info.kind) return say("notPhoto", { name: name });
    if (info.width * info.height > config.maxPixels) {
      return say("tooManyPixels", { name: name, mp: config.maxPixels / 1e6 });
    }
    if (info.blob.size > config.maxBytes) {
      return say("tooLarge", { name: name, mb: megabytes(config.maxBytes) });
    }
    return null;
  }

  picker.addEventListener("change", function () {
    var files = Array.from(picker.files);
    picker.value = ""; // so the same photo can be chosen again after removing it
    if (files.length) addPhotos(files);
  });

  function addPhotos(files) {
    var room = config.maxPhotos - photos.length;
    var extra = files.slice(room);
    var reasons = extra.map(function (file) {
      return say("tooMany", { name: file.name, max: config.maxPhotos });
    });
    photoCount.textContent = words.preparing;
    Promise.all(files.slice(0, room).map(function (file) {
      return TraffickCamPhotos.read(file, config).then(
        function (info) { return { file: file, info: info }; },
        function () { return { file: file, info: null }; }
      );
    })).then(function (read) {
      read.forEach(function (item) {
        var reason = item.info ? refusal(item.file, item.info) : say("unreadable", { name: item.file.name });
        if (reason) reasons.push(reason);
        else photos.push({ file: item.file, name: item.file.name, info: item.info, url: null, refused: "" });
      });
      showFieldErrors("images", reasons);
      forgetToken();
      renderPhotos();
    });
  }

  function removePhoto(index) {
    var gone = photos.splice(index, 1)[0];
    if (gone.url) URL.revokeObjectURL(gone.url);
    forgetToken();
    renderPhotos();
    var buttons = photoList.querySelectorAll(".remove");
    (buttons[Math.min(index, buttons.length - 1)] || picker).focus();
  }

  function renderPhotos() {
    photoList.replaceChildren();
    photos.forEach(function (photo, index) {
      photoList.append(photoItem(photo, index));
    });
    var full = photos.length >= config.maxPhotos;
    pickerLabel.classList.toggle("full", full);
    picker.disabled = full || sending;
    photoCount.textContent = photos.length
      ? say("chosen", { count: photos.length, max: config.maxPhotos })
      : say("none", { max: config.maxPhotos });
  }

  function photoItem(photo, index) {
    var item = document.createElement("li");
    item.dataset.bytes = photo.info.blob.size;
    item.dataset.originalBytes = photo.file.size;
    var label = say("photo", { number: index + 1 });
    var preview;
    if (photo.info.kind === "heif" && !photo.info.shrunk) {
      preview = document.createElement("span"); // browsers do not show HEIC
      preview.className = "no-preview";
      preview.setAttribute("role", "img");
      preview.setAttribute("aria-label", label);
      preview.textContent = photo.name;
    } else {
      photo.url = photo.url || URL.createObjectURL(photo.info.blob);
      preview = document.createElement("img");
      preview.src = photo.url;
      preview.alt = label;
    }
    var meta = document.createElement("span");
    meta.className = "meta";
    meta.textContent = photo.refused ? say("refused", { reason: photo.refused })
      : photo.name + " · " + shortSize(photo.info.blob.size);
    var remove = document.createElement("button");
    remove.type = "button";
    remove.className = "remove";
    remove.textContent = "✕";
    remove.disabled = sending;
    remove.setAttribute("aria-label", say("remove", { name: label + " (" + photo.name + ")" }));
    remove.addEventListener("click", function () { removePhoto(index); });
    item.classList.toggle("refused", Boolean(photo.refused));
    item.append(preview, meta, remove);
    return item;
  }

  // --- errors: next to their field, and a summary that takes the focus ---------------------

  function errorBox(field) {
    return document.getElementById("error-" + field);
  }

  function showFieldErrors(field, reasons) {
    var box = errorBox(field);
    if (!box) return false;
    box.replaceChildren.apply(box, reasons.map(function (reason) {
      var p = document.createElement("p");
      p.textContent = reason;
      return p;
    }));
    var input = form.elements[field];
    if (input && input.setAttribute) input.setAttribute("aria-invalid", reasons.length ? "true" : "false");
    return true;
  }

  function clearErrors() {
    form.querySelectorAll(".field-error").forEach(function (box) { box.replaceChildren(); });
    form.querySelectorAll("[aria-invalid]").forEach(function (input) { input.removeAttribute("aria-invalid"); });
    summary.hidden = true;
  }

  var ANCHORS = { hotel: "hotel-choice", images: "photos" };

  // errors: [{field, reason}]; a field without a place on the page is listed only.
  function showErrors(detail, errors) {
    var byField = {};
    errors.forEach(function (error) {
      (byField[error.field] = byField[error.field] || []).push(error.reason);
    });
    Object.keys(byField).forEach(function (field) { showFieldErrors(field, byField[field]); });
    var items = (detail ? [{ reason: detail }] : []).concat(errors);
    summaryList.replaceChildren.apply(summaryList, items.map(function (error) {
      var item = document.createElement("li");
      var anchor = error.field && (ANCHORS[error.field] || "id_" + error.field);
      if (anchor && document.getElementById(anchor)) {
        var link = document.createElement("a");
        link.href = "#" + anchor;
        link.textContent = error.reason;
        item.append(link);
      } else {
        item.textContent = error.reason;
      }
      return item;
    }));
    summary.hidden = false;
    summary.focus();
  }

  // --- sending ------------------------------------------------------------------------------

  function chosenHotel() {
    var chosen = form.querySelector("input[name=hotel]:checked");
    return chosen ? chosen.value : "";
  }

  function proposing() {
    return chosenHotel() === document.getElementById("hotel-new").value;
  }

  // The checks the page can make itself; the server makes them all again.
  function problems() {
    var found = [];
    if (!chosenHotel()) found.push({ field: "hotel", reason: words.chooseHotel });
    if (proposing()) {
      ["name", "city", "country_code", "latitude", "longitude"].forEach(function (name) {
        var input = form.elements["new-" + name];
        if (!input.value.trim()) found.push({ field: "new-" + name, reason: words["need_" + name] });
      });
    }
    if (!form.elements.room_number.value.trim()) found.push({ field: "room_number", reason: words.needRoom });
    if (!photos.length) found.push({ field: "images", reason: say("needPhotos", { max: config.maxPhotos }) });
    if (photos.some(function (p) { return p.refused; })) found.push({ field: "images", reason: words.refusedFiles });
    return found;
  }

  function formData() {
    var data = new FormData();
    data.append("csrfmiddlewaretoken", form.elements.csrfmiddlewaretoken.value);
    data.append("hotel", chosenHotel());
    data.append("room_number", form.elements.room_number.value);
    if (proposing()) {
      form.querySelectorAll("#proposal input").forEach(function (input) {
        if (input.name) data.append(input.name, input.value);
      });
    }
    data.append("client_token", token);
    photos.forEach(function (photo, index) {
      // Named by position: the server's reasons name the file, the page finds the photo.
      var extension = photo.info.shrunk ? "jpg" : photo.info.kind;
      data.append("images", photo.info.blob, "photo-" + (index + 1) + "." + extension);
      data.append("captured_at", photo.info.capturedAt);
    });
    return data;
  }

  var RETRY_SECONDS = [1, 2, 4, 8, 15];

  function setSending(on) {
    sending = on;
    submit.disabled = on;
    submit.textContent = on ? words.sending : words.send;
    renderPhotos();
  }

  form.addEventListener("input", forgetToken);
  form.addEventListener("change", function (event) {
    if (event.target !== picker) forgetToken();
  });

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    if (sending) return; // one upload per tap: slow networks tempt a second press
    clearErrors();
    var found = problems();
    if (found.length) {
      showErrors("", found);
      return;
    }
    token = token || newToken();
    setSending(true);
    progressBox.hidden = false;
    send(formData(), 0);
  });

  function send(data, attempt) {
    var request = new XMLHttpRequest();
    request.open("POST", form.action);
    request.setRequestHeader("Accept", "application/json");
    request.upload.addEventListener("progress", function (event) {
      if (!event.lengthComputable) return;
      progress.value = Math.round((100 * event.loaded) / event.total);
      progressText.textContent = say("sent", { sent: megabytes(event.loaded), total: megabytes(event.total) });
    });
    request.addEventListener("load", function () { answered(request, data, attempt); });
    request.addEventListener("error", function () { retry(data, attempt); });
    request.addEventListener("timeout", function () { retry(data, attempt); });
    request.send(data);
  }

  function answered(request, data, attempt) {
    var body = null;
    try { body = JSON.parse(request.responseText); } catch (error) { body = null; }
    if (request.status >= 200 && request.status < 300 && body && body.redirect) {
      progress.value = 100;
      progressText.textContent = words.stored;
      window.location.assign(body.redirect);
      return;
    }
    // Busy, a concurrent try of the same photos, or a proxy's error page: try again.
    if (request.status >= 500 || request.status === 409) {
      retry(data, attempt, request.status);
      return;
    }
    refused(body || { detail: say("serverError", { status: request.status }) });
  }

  function retry(data, attempt, status) {
    if (attempt >= RETRY_SECONDS.length) {
      setSending(false);
      progressBox.hidden = true;
      var reason = status ? say("serverError", { status: status }) + " " : "";
      showErrors(reason + words.gaveUp, []);
      return;
    }
    var seconds = RETRY_SECONDS[attempt];
    progress.value = 0;
    progressText.textContent = say("retrying", { seconds: seconds });
    window.setTimeout(function () { send(data, attempt + 1); }, seconds * 1000);
  }

  // Nothing was stored: reasons go next to their fields, refused photos are marked and
  // the others stay chosen.
  function refused(body) {
    setSending(false);
    progressBox.hidden = true;
    var errors = [];
    (body.errors || []).forEach(function (error) {
      var match = error.file && /^photo-(\d+)\./.exec(error.file);
      var photo = match && photos[+match[1] - 1];
      if (photo) {
        photo.refused = error.reason;
        errors.push({ field: "images", reason: photo.name + ": " + error.reason });
      } else {
        errors.push({ field: error.field, reason: error.reason });
      }
    });
    renderPhotos();
    showErrors(body.detail || "", errors);
  }

  // A page restored from the back-forward cache must not look busy.
  window.addEventListener("pageshow", function () {
    if (sending) setSending(false);
  });
  if (!summary.hidden) summary.focus();
  renderPhotos();
})();
