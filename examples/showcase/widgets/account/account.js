// Renders the seed-003 trio (protected / public / flexible) from structuredContent.
(function () {
  var LABELS = {
    user_id: "User id", email: "Email", scopes: "Scopes", has_read: "read:data",
    has_write: "write:data", has_admin: "admin", authenticated: "Signed in",
    note: "Note", input_message: "Your message", personalized: "Personalized"
  };
  function text(el, value) { el.textContent = value == null ? "" : String(value); }
  function render(data) {
    if (!data) return;
    var badge = data.tier || (data.user_id ? "signed in" : "public");
    text(document.getElementById("ac-badge"), badge);
    text(document.getElementById("ac-title"), data.message || "");
    var facts = document.getElementById("ac-facts");
    facts.replaceChildren();
    Object.keys(LABELS).forEach(function (key) {
      if (!(key in data)) return;
      var dt = document.createElement("dt");
      var dd = document.createElement("dd");
      text(dt, LABELS[key]);
      var v = data[key];
      if (typeof v === "boolean") { dd.className = v ? "yes" : "no"; text(dd, v ? "yes" : "no"); }
      else if (Array.isArray(v)) { text(dd, v.join(" ") || "none"); }
      else { text(dd, v); }
      facts.append(dt, dd);
    });
    var chips = document.getElementById("ac-chips");
    chips.replaceChildren();
    (data.features || []).forEach(function (f) {
      var li = document.createElement("li");
      text(li, f);
      chips.append(li);
    });
  }
  widgetry.on("toolresult", function () { render(widgetry.toolOutput); });
  widgetry.ready().then(function () { render(widgetry.toolOutput); });
})();
