/*
 * Eraser for the investigator search form.
 *
 * The investigator paints over the victim; strokes are kept in ORIGINAL image pixel
 * coordinates so the mask built on submit matches the uploaded photo exactly, whatever
 * size the canvas is shown at. createImageBitmap applies the EXIF orientation (as the
 * server's exif_transpose does), so "original" here means "upright original".
 *
 * Without JS (or without canvas support) the form posts the photo alone: this script
 * adds the `mask` file and the `region` field, and sends the form with fetch so that a
 * validation error keeps the photo and the strokes on the page.
 *
 * "Suggest mask" sends the photo to the server's person detector and adds the mask it
 * returns as one more layer of the painting: undo removes it, the brush adds to it, and
 * the mask sent with the search includes it.
 */
(function () {
  "use strict";

  var form = document.getElementById("search-form");
  if (!form || !window.HTMLCanvasElement || !window.createImageBitmap) return;

  var fileInput = form.querySelector("input[name=image]");
  var regionInput = form.querySelector("input[name=region]");
  var panel = document.getElementById("eraser");
  var stage = document.getElementById("eraser-stage");
  var photoCanvas = document.getElementById("eraser-photo");
  var maskCanvas = document.getElementById("eraser-mask");
  var uiCanvas = document.getElementById("eraser-ui");
  var brush = document.getElementById("eraser-brush");
  var brushValue = document.getElementById("eraser-brush-value");
  var undoButton = document.getElementById("eraser-undo");
  var clearButton = document.getElementById("eraser-clear");
  var status = document.getElementById("eraser-status");
  var suggestButton = document.getElementById("eraser-suggest"); // absent: no detector
  var modeInputs = form.querySelectorAll("input[name=eraser-mode]");

  var bitmap = null; // the upright photo at full resolution
  var scale = 1; // canvas pixels per image pixel
  // Immutable snapshots: undo restores the previous one, clear pushes an empty one.
  var state = { strokes: [], region: null };
  var history = [];
  var drawing = null; // stroke or region being dragged
  var suggesting = false;

  panel.hidden = false;
  document.documentElement.classList.add("has-eraser");

  function mode() {
    for (var i = 0; i < modeInputs.length; i++) {
      if (modeInputs[i].checked) return modeInputs[i].value;
    }
    return "erase";
  }

  function commit(next) {
    history.push(state);
    state = next;
    syncControls();
  }

  function syncControls() {
    undoButton.disabled = history.length === 0;
    clearButton.disabled = state.strokes.length === 0 && !state.region;
    if (suggestButton) suggestButton.disabled = !bitmap || suggesting;
    var painted = state.strokes.filter(function (stroke) {
      return !stroke.layer;
    }).length;
    var suggested = painted < state.strokes.length;
    status.textContent = bitmap
      ? (suggested ? "Suggested mask and " : "") +
        painted + (painted === 1 ? " stroke" : " strokes") +
        (state.region ? ", region set" : ", whole photo searched")
      : "Choose a photo to start.";
  }

  // --- layout -------------------------------------------------------------------------

  function fit() {
    if (!bitmap) return;
    // Fit the width of the panel and most of the viewport height (phones in portrait).
    var maxWidth = stage.parentElement.clientWidth;
    var maxHeight = Math.max(240, window.innerHeight * 0.7);
    scale = Math.min(maxWidth / bitmap.width, maxHeight / bitmap.height, 1);
    var width = Math.max(1, Math.round(bitmap.width * scale));
    var height = Math.max(1, Math.round(bitmap.height * scale));
    [photoCanvas, maskCanvas, uiCanvas].forEach(function (canvas) {
      canvas.width = width;
      canvas.height = height;
    });
    stage.style.width = width + "px";
    stage.style.height = height + "px";
    photoCanvas.getContext("2d").drawImage(bitmap, 0, 0, width, height);
    render();
  }

  // --- drawing ------------------------------------------------------------------------

  function paintStroke(ctx, stroke, factor, color) {
    if (stroke.layer) return paintLayer(ctx, stroke, factor, color);
    ctx.strokeStyle = color;
    ctx.fillStyle = color;
    ctx.lineWidth = stroke.size * factor;
    ctx.lineCap = "round";
    ctx.lineJoin = "round";
    var points = stroke.points;
    if (points.length === 1) {
      ctx.beginPath();
      ctx.arc(points[0][0] * factor, points[0][1] * factor, (stroke.size * factor) / 2, 0, 2 * Math.PI);
      ctx.fill();
      return;
    }
    ctx.beginPath();
    ctx.moveTo(points[0][0] * factor, points[0][1] * factor);
    for (var i = 1; i < points.length; i++) {
      ctx.lineTo(points[i][0] * factor, points[i][1] * factor);
    }
    ctx.stroke();
  }

  function paintLayer(ctx, stroke, factor, color) {
    // The suggested mask (white where erased, clear elsewhere) in `color`, at `factor`.
    // Kept per size and colour: render() runs on every pointer move.
    var width = Math.round(stroke.layer.width * factor);
    var height = Math.round(stroke.layer.height * factor);
    var key = width + "x" + height + color;
    if (!stroke.tinted || stroke.tinted.key !== key) {
      var canvas = document.createElement("canvas");
      canvas.width = width;
      canvas.height = height;
      var tctx = canvas.getContext("2d");
      tctx.drawImage(stroke.layer, 0, 0, width, height);
      tctx.globalCompositeOperation = "source-in";
      tctx.fillStyle = color;
      tctx.fillRect(0, 0, width, height);
      stroke.tinted = { key: key, canvas: canvas };
    }
    ctx.drawImage(stroke.tinted.canvas, 0, 0);
  }

  function render() {
    var mctx = maskCanvas.getContext("2d");
    mctx.clearRect(0, 0, maskCanvas.width, maskCanvas.height);
    // Opaque red on a layer shown at 50% opacity: overlapping strokes do not darken.
    var strokes = state.strokes.concat(drawing && drawing.points ? [drawing] : []);
    strokes.forEach(function (stroke) {
      paintStroke(mctx, stroke, scale, "#ff0000");
    });
    var uctx = uiCanvas.getContext("2d");
    uctx.clearRect(0, 0, uiCanvas.width, uiCanvas.height);
    var region = drawing && drawing.rect ? drawing.rect : state.region;
    if (region) {
      uctx.save();
      uctx.fillStyle = "rgba(0, 0, 0, 0.35)";
      uctx.fillRect(0, 0, uiCanvas.width, uiCanvas.height);
      uctx.clearRect(region.x * scale, region.y * scale, region.w * scale, region.h * scale);
      uctx.setLineDash([6, 4]);
      uctx.lineWidth = 2;
      uctx.strokeStyle = "#ffd400";
      uctx.strokeRect(region.x * scale, region.y * scale, region.w * scale, region.h * scale);
      uctx.restore();
    }
  }

  function imagePoint(event) {
    var box = uiCanvas.getBoundingClientRect();
    var x = ((event.clientX - box.left) / box.width) * bitmap.width;
    var y = ((event.clientY - box.top) / box.height) * bitmap.height;
    return [clamp(x, 0, bitmap.width), clamp(y, 0, bitmap.height)];
  }

  function clamp(value, low, high) {
    return Math.min(high, Math.max(low, value));
  }

  function rectFrom(a, b) {
    var x = Math.round(Math.min(a[0], b[0]));
    var y = Math.round(Math.min(a[1], b[1]));
    return {
      x: x,
      y: y,
      w: Math.round(Math.max(a[0], b[0])) - x,
      h: Math.round(Math.max(a[1], b[1])) - y,
    };
  }

  uiCanvas.addEventListener("pointerdown", function (event) {
    if (!bitmap || (event.pointerType === "mouse" && event.button !== 0)) return;
    event.preventDefault();
    uiCanvas.setPointerCapture(event.pointerId);
    var point = imagePoint(event);
    if (mode() === "region") {
      drawing = { start: point, rect: rectFrom(point, point) };
    } else {
      // Brush size is chosen in screen pixels; stored in image pixels.
      drawing = { size: Number(brush.value) / scale, points: [point] };
    }
    render();
  });

  uiCanvas.addEventListener("pointermove", function (event) {
    if (!drawing) return;
    event.preventDefault();
    if (drawing.rect) {
      drawing.rect = rectFrom(drawing.start, imagePoint(event));
    } else {
      // Coalesced events keep fast pen and finger strokes smooth.
      var events = event.getCoalescedEvents ? event.getCoalescedEvents() : [event];
      if (!events.length) events = [event];
      events.forEach(function (e) {
        drawing.points.push(imagePoint(e));
      });
    }
    render();
  });

  function finish(event) {
    if (!drawing) return;
    var done = drawing;
    drawing = null;
    if (event.type === "pointercancel") return render();
    if (done.rect) {
      // A click without a drag removes the region instead of making an empty one.
      var tooSmall = done.rect.w < 8 / scale || done.rect.h < 8 / scale;
      commit({ strokes: state.strokes, region: tooSmall ? null : done.rect });
    } else {
      commit({ strokes: state.strokes.concat([done]), region: state.region });
    }
    render();
  }
  uiCanvas.addEventListener("pointerup", finish);
  uiCanvas.addEventListener("pointercancel", finish);

  // --- controls -----------------------------------------------------------------------

  brush.addEventListener("input", function () {
    brushValue.textContent = brush.value + " px";
  });

  undoButton.addEventListener("click", function () {
    if (!history.length) return;
    state = history.pop();
    syncControls();
    render();
  });

  clearButton.addEventListener("click", function () {
    commit({ strokes: [], region: null });
    render();
  });

  // --- suggested mask -------------------------------------------------------------------

  function csrfToken() {
    var field = form.querySelector("input[name=csrfmiddlewaretoken]");
    return field ? field.value : "";
  }

  function layerFrom(blob, size) {
    // The server's grayscale PNG (white = erase) as white-on-transparent, upright size.
    return createImageBitmap(blob).then(function (png) {
      var canvas = document.createElement("canvas");
      canvas.width = size.width;
      canvas.height = size.height;
      var ctx = canvas.getContext("2d");
      ctx.drawImage(png, 0, 0, size.width, size.height);
      var pixels = ctx.getImageData(0, 0, size.width, size.height);
      var data = pixels.data;
      for (var i = 0; i < data.length; i += 4) {
        data[i + 3] = data[i] > 127 ? 255 : 0;
        data[i] = data[i + 1] = data[i + 2] = 255;
      }
      ctx.putImageData(pixels, 0, 0);
      return canvas;
    });
  }

  function askDetector(file) {
    var data = new FormData();
    data.append("image", file);
    return fetch(suggestButton.getAttribute("data-url"), {
      method: "POST",
      body: data,
      credentials: "same-origin",
      headers: { "X-CSRFToken": csrfToken() },
    }).then(function (response) {
      if (!response.ok) {
        return response
          .json()
          .catch(function () {
            return {};
          })
          .then(function (body) {
            throw new Error(reason(body) || "the server answered " + response.status);
          });
      }
      var found = Number(response.headers.get("X-People-Found") || 0);
      return response.blob().then(function (blob) {
        return { found: found, blob: blob };
      });
    });
  }

  function reason(body) {
    // {"detail": "..."} or, for a refused photo, {"image": ["..."]}.
    if (body.detail) return body.detail;
    var first = Object.keys(body).map(function (key) {
      return [].concat(body[key])[0];
    })[0];
    return first ? String(first) : "";
  }

  function foundMessage(found) {
    if (!found) return "No person found: paint by hand.";
    return found + (found === 1 ? " person" : " people") + " found: check the red area.";
  }

  function suggest() {
    var file = fileInput.files && fileInput.files[0];
    var photo = bitmap;
    if (!file || !photo || suggesting) return;
    suggesting = true;
    syncControls();
    status.textContent = "Looking for people in the photo…";
    askDetector(file)
      .then(function (answer) {
        if (!answer.found) return { found: 0, layer: null };
        return layerFrom(answer.blob, photo).then(function (layer) {
          return { found: answer.found, layer: layer };
        });
      })
      .then(function (result) {
        suggesting = false;
        if (bitmap !== photo) return syncControls(); // another photo was chosen meanwhile
        if (result.layer) {
          commit({ strokes: state.strokes.concat([{ layer: result.layer }]), region: state.region });
          render();
        } else {
          syncControls();
        }
        status.textContent = foundMessage(result.found);
      })
      .catch(function (err) {
        suggesting = false;
        syncControls();
        status.textContent = "No mask could be suggested (" + err.message + "): paint by hand.";
      });
  }

  if (suggestButton) suggestButton.addEventListener("click", suggest);

  fileInput.addEventListener("change", function () {
    var file = fileInput.files && fileInput.files[0];
    state = { strokes: [], region: null };
    history = [];
    bitmap = null;
    stage.hidden = true;
    syncControls();
    if (!file) return;
    status.textContent = "Loading photo…";
    // Some browsers reject the options argument: "from-image" is their default anyway.
    createImageBitmap(file, { imageOrientation: "from-image" })
      .catch(function () {
        return createImageBitmap(file);
      })
      .then(function (loaded) {
        bitmap = loaded;
        stage.hidden = false;
        fit();
        syncControls();
      })
      .catch(function () {
        // HEIC and other formats the browser cannot decode: the server still can.
        status.textContent =
          "This browser cannot show this photo, so it cannot be erased here. " +
          "It can still be searched without a mask.";
      });
  });

  var resizeTimer = null;
  window.addEventListener("resize", function () {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(fit, 100);
  });

  // --- submit -------------------------------------------------------------------------

  function buildMask() {
    // White = erased, black = kept, at the upright photo's full resolution.
    var canvas = document.createElement("canvas");
    canvas.width = bitmap.width;
    canvas.height = bitmap.height;
    var ctx = canvas.getContext("2d");
    ctx.fillStyle = "#000000";
    ctx.fillRect(0, 0, canvas.width, canvas.height);
    state.strokes.forEach(function (stroke) {
      paintStroke(ctx, stroke, 1, "#ffffff");
    });
    return new Promise(function (resolve, reject) {
      canvas.toBlob(function (blob) {
        return blob ? resolve(blob) : reject(new Error("mask encoding failed"));
      }, "image/png");
    });
  }

  function setRegionField() {
    var r = state.region;
    regionInput.value = bitmap && r ? [r.x, r.y, r.w, r.h].join(",") : "";
  }

  function done(message) {
    form.dataset.submitting = "";
    var submitButton = form.querySelector("button[type=submit]");
    if (submitButton) submitButton.disabled = false;
    status.textContent = message;
  }

  function send(data) {
    // Posted with fetch so that a refused search leaves this page as it is: the photo
    // in its input, the strokes on the canvas. Only the errors are taken from the answer.
    return fetch(form.action || window.location.href, {
      method: "POST",
      body: data,
      credentials: "same-origin",
    }).then(function (response) {
      if (response.redirected && response.ok) {
        window.location.assign(response.url); // the results (or the login page)
        return;
      }
      return response.text().then(function (html) {
        var answer = new DOMParser().parseFromString(html, "text/html");
        if (!answer.getElementById("search-form")) throw new Error("HTTP " + response.status);
        showServerErrors(answer);
        done("The search was not run: see the reasons above the form and next to the fields.");
      });
    });
  }

  function showServerErrors(answer) {
    // Each field's reasons next to that field, the summary at the top, focused.
    form.querySelectorAll("[data-field]").forEach(function (wrapper) {
      var name = wrapper.getAttribute("data-field");
      var source = answer.querySelector('[data-field="' + name + '"]');
      wrapper.querySelectorAll(".error").forEach(function (node) {
        node.remove();
      });
      var field = form.elements[name];
      var sourceField = source && source.querySelector("[name=" + name + "]");
      if (field && field.setAttribute) {
        if (sourceField && sourceField.getAttribute("aria-invalid")) {
          field.setAttribute("aria-invalid", "true");
        } else {
          field.removeAttribute("aria-invalid");
        }
      }
      if (!source) return;
      source.querySelectorAll(".error").forEach(function (node) {
        wrapper.appendChild(document.importNode(node, true));
      });
    });
    var old = document.getElementById("form-errors");
    if (old) old.remove();
    var summary = answer.getElementById("form-errors");
    if (!summary) return;
    summary = document.importNode(summary, true);
    summary.tabIndex = -1;
    form.parentNode.insertBefore(summary, form);
    summary.focus();
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    if (form.dataset.submitting === "1") return;
    setRegionField();
    form.dataset.submitting = "1";
    var submitButton = form.querySelector("button[type=submit]");
    if (submitButton) submitButton.disabled = true;
    var painted = bitmap && state.strokes.length > 0;
    status.textContent = painted ? "Preparing mask…" : "Searching…";
    // Nothing painted: a mask file chosen by hand (if any) goes as it is.
    var mask = painted ? buildMask() : Promise.resolve(null);
    mask
      .then(function (blob) {
        var data = new FormData(form);
        if (blob) data.set("mask", new File([blob], "mask.png", { type: "image/png" }));
        status.textContent = "Searching…";
        return send(data);
      })
      .catch(function (err) {
        done("The search could not be sent (" + err.message + "). Try again.");
      });
  });

  // Coming back with the Back button restores this page from cache: allow a new submit.
  window.addEventListener("pageshow", function () {
    form.dataset.submitting = "";
    var submitButton = form.querySelector("button[type=submit]");
    if (submitButton) submitButton.disabled = false;
  });

  syncControls();
})();
