// Reading a chosen photo before it is sent: its format (by content, as the server
// decides), its pixel size (from the header, without decoding), the original's capture
// time (EXIF DateTimeOriginal) and a copy shrunk to the size the server stores.
// Used by upload.js; exposed as window.TraffickCamPhotos.
(function () {
  "use strict";

  var HEADER_BYTES = 512 * 1024; // EXIF (up to 64 KB) and the frame header fit
  var HEIF_BRANDS = ["heic", "heix", "hevc", "hevx", "heim", "heis", "hevm", "hevs", "mif1", "msf1"];
  var DECODABLE = ["jpeg", "png", "webp"]; // what a browser canvas can shrink

  function ascii(bytes, start, length) {
    var text = "";
    for (var i = start; i < start + length && i < bytes.length; i++) text += String.fromCharCode(bytes[i]);
    return text;
  }

  function u16be(b, i) { return (b[i] << 8) | b[i + 1]; }
  function u32be(b, i) { return ((b[i] << 24) >>> 0) + ((b[i + 1] << 16) | (b[i + 2] << 8) | b[i + 3]); }
  function u16le(b, i) { return b[i] | (b[i + 1] << 8); }
  function u24le(b, i) { return b[i] | (b[i + 1] << 8) | (b[i + 2] << 16); }

  // "jpeg", "png", "webp", "heif" or null, from the first bytes.
  function sniff(b) {
    if (b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) return "jpeg";
    if (ascii(b, 0, 8) === "\x89PNG\r\n\x1a\n") return "png";
    if (ascii(b, 0, 4) === "RIFF" && ascii(b, 8, 4) === "WEBP") return "webp";
    if (ascii(b, 4, 4) === "ftyp") {
      var size = Math.min(u32be(b, 0), 64);
      for (var i = 8; i + 4 <= size; i += 4) {
        if (HEIF_BRANDS.indexOf(ascii(b, i, 4)) >= 0) return "heif";
      }
    }
    return null;
  }

  // The JPEG segments before the image data: [{marker, start (of its payload), length}].
  function jpegSegments(b) {
    var segments = [];
    var i = 2;
    while (i + 4 <= b.length) {
      if (b[i] !== 0xff) break;
      var marker = b[i + 1];
      if (marker === 0xff) { i++; continue; } // fill byte
      if (marker === 0xd8 || marker === 0x01 || (marker >= 0xd0 && marker <= 0xd7)) { i += 2; continue; }
      var length = u16be(b, i + 2);
      segments.push({ marker: marker, start: i + 4, length: length - 2 });
      if (marker === 0xda) break; // start of scan: the header is over
      i += 2 + length;
    }
    return segments;
  }

  function isFrameHeader(marker) {
    return marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc;
  }

  // {width, height} as stored (before any EXIF rotation), or null when not found.
  function dimensions(kind, b) {
    if (kind === "jpeg") {
      var frame = jpegSegments(b).filter(function (s) { return isFrameHeader(s.marker); })[0];
      return frame && frame.start + 5 <= b.length
        ? { height: u16be(b, frame.start + 1), width: u16be(b, frame.start + 3) } : null;
    }
    if (kind === "png") return { width: u32be(b, 16), height: u32be(b, 20) };
    if (kind === "webp") return webpDimensions(b);
    if (kind === "heif") return heifDimensions(b);
    return null;
  }

  function webpDimensions(b) {
    var chunk = ascii(b, 12, 4);
    if (chunk === "VP8 ") return { width: u16le(b, 26) & 0x3fff, height: u16le(b, 28) & 0x3fff };
    if (chunk === "VP8L") {
      return {
        width: 1 + (((b[22] & 0x3f) << 8) | b[21]),
        height: 1 + (((b[24] & 0x0f) << 10) | (b[23] << 2) | ((b[22] & 0xc0) >> 6)),
      };
    }
    if (chunk === "VP8X") return { width: 1 + u24le(b, 24), height: 1 + u24le(b, 27) };
    return null;
  }

  // The largest "ispe" (image spatial extent) property: a gridded photo's full size.
  function heifDimensions(b) {
    var best = null;
    for (var i = 4; i + 16 <= b.length; i++) {
      if (b[i] === 0x69 && ascii(b, i, 4) === "ispe") {
        var size = { width: u32be(b, i + 8), height: u32be(b, i + 12) };
        if (!best || size.width * size.height > best.width * best.height) best = size;
      }
    }
    return best;
  }

  // The original's capture time from a JPEG's EXIF, "YYYY-MM-DDTHH:MM:SS[+HH:MM]", or "".
  function captureTime(kind, b) {
    if (kind !== "jpeg") return "";
    var app1 = jpegSegments(b).filter(function (s) {
      return s.marker === 0xe1 && ascii(b, s.start, 6) === "Exif\x00\x00";
    })[0];
    if (!app1) return "";
    try {
      return exifCaptureTime(new DataView(b.buffer, b.byteOffset + app1.start + 6, app1.length - 6));
    } catch (error) {
      return ""; // a damaged EXIF block: no time, the photo is still fine
    }
  }

  function exifCaptureTime(tiff) {
    var little = tiff.getUint16(0) === 0x4949; // "II"
    function u16(at) { return tiff.getUint16(at, little); }
    function u32(at) { return tiff.getUint32(at, little); }
    function entry(ifd, tag) {
      var count = u16(ifd);
      for (var n = 0; n < count; n++) {
        var at = ifd + 2 + n * 12;
        if (u16(at) === tag) return { count: u32(at + 4), value: at + 8 };
      }
      return null;
    }
    function text(found) {
      if (!found) return "";
      var at = found.count > 4 ? u32(found.value) : found.value;
      var chars = "";
      for (var i = 0; i < found.count && at + i < tiff.byteLength; i++) {
        var code = tiff.getUint8(at + i);
        if (code === 0) break;
        chars += String.fromCharCode(code);
      }
      return chars;
    }
    var exifPointer = entry(u32(4), 0x8769);
    if (!exifPointer) return "";
    var exif = u32(exifPointer.value);
    return isoTime(text(entry(exif, 0x9003)), text(entry(exif, 0x9011)));
  }

  // Only a plausible time is sent: the server refuses a date before 1990 or in the future.
  function isoTime(taken, offset) {
    var m = /^(\d{4}):(\d{2}):(\d{2}) (\d{2}):(\d{2}):(\d{2})/.exec(taken);
    if (!m) return "";
    var when = Date.UTC(+m[1], m[2] - 1, +m[3], +m[4], +m[5], +m[6]);
    var valid = new Date(when).getUTCDate() === +m[3] && +m[4] < 24 && +m[5] < 60 && +m[6] < 60;
    if (!valid || +m[1] < 1990 || when > Date.now() + 86400000) return "";
    var iso = m[1] + "-" + m[2] + "-" + m[3] + "T" + m[4] + ":" + m[5] + ":" + m[6];
    return /^[+-]\d{2}:\d{2}$/.test(offset) ? iso + offset : iso;
  }

  // A JPEG copy at most `maxSide` px on its long side, upright, on white (PNG
  // transparency); null when the browser cannot decode the file.
  function shrink(file, maxSide, quality) {
    if (typeof createImageBitmap !== "function") return Promise.resolve(null);
    return createImageBitmap(file, { imageOrientation: "from-image" }).then(function (bitmap) {
      var scale = Math.min(1, maxSide / Math.max(bitmap.width, bitmap.height));
      var width = Math.max(1, Math.round(bitmap.width * scale));
      var height = Math.max(1, Math.round(bitmap.height * scale));
      var canvas = document.createElement("canvas");
      canvas.width = width;
      canvas.height = height;
      var context = canvas.getContext("2d");
      context.fillStyle = "#fff";
      context.fillRect(0, 0, width, height);
      context.imageSmoothingQuality = "high";
      context.drawImage(bitmap, 0, 0, width, height);
      bitmap.close();
      return new Promise(function (resolve) { canvas.toBlob(resolve, "image/jpeg", quality); });
    }, function () { return null; });
  }

  // Everything the page needs to know of a chosen file:
  // {kind, width, height, capturedAt, blob (what to send), shrunk}.
  function read(file, config) {
    return file.slice(0, HEADER_BYTES).arrayBuffer().then(function (buffer) {
      var bytes = new Uint8Array(buffer);
      var kind = sniff(bytes);
      var info = { kind: kind, width: 0, height: 0, capturedAt: "", blob: file, shrunk: false };
      if (!kind) return info;
      var size = dimensions(kind, bytes);
      if (size) { info.width = size.width; info.height = size.height; }
      info.capturedAt = captureTime(kind, bytes);
      var tooManyPixels = size && size.width * size.height > config.maxPixels;
      if (tooManyPixels || DECODABLE.indexOf(kind) < 0) return info;
      return shrink(file, config.storedMaxSide, config.jpegQuality).then(function (blob) {
        // Only when it saves data: a small photo is sent as it is.
        if (blob && blob.size < file.size) { info.blob = blob; info.shrunk = true; }
        return info;
      });
    });
  }

  window.TraffickCamPhotos = { read: read, sniff: sniff, dimensions: dimensions, captureTime: captureTime };
})();
