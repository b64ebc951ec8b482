// The likes gallery: images with like buttons acting for the signed-in user through
// widgetry.action (direct widget-token calls, renewal, callTool fallback).
(function () {
  var PALETTE = [["#ff9a8b", "#ff6a88"], ["#a1c4fd", "#c2e9fb"], ["#84fab0", "#8fd3f4"], ["#fccb90", "#d57eeb"], ["#f6d365", "#fda085"], ["#cfd9df", "#e2ebf0"]];
  var state = { images: [], viewer: { signedIn: false } };
  var $ = function (id) { return document.getElementById(id); };

  function art(index) {
    var c = PALETTE[index % PALETTE.length];
    var ns = "http://www.w3.org/2000/svg";
    var svg = document.createElementNS(ns, "svg");
    svg.setAttribute("viewBox", "0 0 160 120");
    svg.setAttribute("aria-hidden", "true");
    var id = "g" + index;
    svg.innerHTML = '<defs><linearGradient id="' + id + '" x1="0" y1="0" x2="1" y2="1"><stop offset="0" stop-color="' + c[0] + '"/><stop offset="1" stop-color="' + c[1] + '"/></linearGradient></defs>' +
      '<rect width="160" height="120" fill="url(#' + id + ')"/><circle cx="' + (40 + index * 17 % 80) + '" cy="44" r="18" fill="rgba(255,255,255,.55)"/>' +
      '<path d="M0 120 L55 70 L90 100 L120 80 L160 115 L160 120 Z" fill="rgba(0,0,0,.18)"/>';
    return svg;
  }

  function showError(msg) {
    var el = $("gl-error");
    el.textContent = msg || "";
    el.hidden = !msg;
  }

  function render() {
    var v = state.viewer || {};
    $("gl-viewer").textContent = v.signedIn ? "Signed in as " + (v.name || "you") : "Not signed in";
    $("gl-signin").hidden = !!v.signedIn;
    var grid = $("gl-grid");
    grid.replaceChildren();
    state.images.forEach(function (img, i) {
      var li = document.createElement("li");
      li.className = "gl-card";
      li.dataset.imageId = img.id;
      li.append(art(i));
      var meta = document.createElement("div");
      meta.className = "gl-meta";
      var name = document.createElement("span");
      name.className = "gl-name";
      name.textContent = img.title;
      var btn = document.createElement("button");
      btn.type = "button";
      btn.className = "gl-like";
      btn.setAttribute("aria-pressed", img.liked ? "true" : "false");
      btn.setAttribute("aria-label", (img.liked ? "Unlike " : "Like ") + img.title + ", " + img.likes + " likes");
      btn.innerHTML = '<span aria-hidden="true">' + (img.liked ? "\u2665" : "\u2661") + '</span>';
      var count = document.createElement("span");
      count.className = "gl-count";
      count.textContent = String(img.likes);
      btn.append(count);
      btn.addEventListener("click", function () { toggle(img, btn); });
      meta.append(name, btn);
      li.append(meta);
      grid.append(li);
    });
  }

  function toggle(img, btn) {
    btn.disabled = true;
    showError("");
    var action = img.liked ? "unlike_image" : "like_image";
    widgetry.action(action, { image_id: img.id }).then(function (r) {
      img.likes = r.likes;
      img.liked = r.liked;
      render();
    }).catch(function (e) {
      if (e && e.code === "signin_required") {
        state.viewer = { signedIn: false };
        render();
        showError(e.reason === "scope_lost" ? "You no longer have permission to like; sign in again." : "Sign in to like images.");
      } else {
        showError((e && e.message) || "Something went wrong");
      }
      btn.disabled = false;
    });
  }

  function load() {
    var out = widgetry.toolOutput;
    if (!out || !Array.isArray(out.images)) return;
    state.images = out.images.map(function (x) { return Object.assign({}, x); });
    state.viewer = out.viewer || { signedIn: false };
    render();
  }

  widgetry.on("toolresult", load);
  widgetry.on("auth", function () { state.viewer = { signedIn: false }; render(); });
  widgetry.ready().then(load);
})();
