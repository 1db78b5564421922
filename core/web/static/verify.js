// Recompute the treasury ledger's hash chain in this browser, trusting nothing but SubtleCrypto.
// The algorithm is the one documented in core/ledger.py:
//   hash = SHA-256( prev_hash + "\n" + canonical JSON of {seq, kind, at, data} )
// canonical JSON: keys NFC-normalised and sorted by Unicode code point, no whitespace,
// strings NFC-normalised with JSON's minimal escapes, integers only.
(function () {
  "use strict";
  var out = document.getElementById("browser-result");
  if (!out) return;
  if (!window.crypto || !window.crypto.subtle || !window.fetch || !window.TextEncoder) {
    out.textContent = out.dataset.unavailable;
    return;
  }

  function byCodePoint(a, b) {
    var x = Array.from(a), y = Array.from(b);
    for (var i = 0; i < Math.min(x.length, y.length); i++) {
      var d = x[i].codePointAt(0) - y[i].codePointAt(0);
      if (d !== 0) return d;
    }
    return x.length - y.length;
  }

  function canonical(v) {
    if (v === null) return "null";
    if (v === true) return "true";
    if (v === false) return "false";
    if (typeof v === "number") {
      if (!Number.isSafeInteger(v)) throw new Error("not an integer");
      return String(v);
    }
    // JSON.stringify escapes exactly " \ \b \f \n \r \t and \u00xx (lowercase) below U+0020.
    if (typeof v === "string") return JSON.stringify(v.normalize("NFC"));
    if (Array.isArray(v)) return "[" + v.map(canonical).join(",") + "]";
    var keys = Object.keys(v).map(function (k) { return [k.normalize("NFC"), k]; });
    keys.sort(function (a, b) { return byCodePoint(a[0], b[0]); });
    return "{" + keys.map(function (k) {
      return JSON.stringify(k[0]) + ":" + canonical(v[k[1]]);
    }).join(",") + "}";
  }

  function hex(buffer) {
    return Array.from(new Uint8Array(buffer)).map(function (b) {
      return b.toString(16).padStart(2, "0");
    }).join("");
  }

  async function entryHash(e) {
    var text = e.prev_hash + "\n" + canonical({seq: e.seq, kind: e.kind, at: e.at, data: e.data});
    return hex(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text)));
  }

  function say(template, values, ok) {
    out.textContent = template.replace(/\{(\w+)\}/g, function (_, k) {
      return values[k] === undefined ? "" : String(values[k]);
    });
    out.className = ok ? "ok" : "bad";
    out.dataset.result = ok ? "ok" : "bad";
  }

  async function verify() {
    out.textContent = out.dataset.working;
    var doc = await (await fetch(out.dataset.src, {credentials: "omit"})).json();
    var entries = doc.entries || [];
    var prev = doc.genesis, expected = 1;
    var seqs = new Set(entries.map(function (e) { return e.seq; }));
    for (var i = 0; i < entries.length; i++) {
      var e = entries[i], reason = null;
      var recomputed = await entryHash(e);
      if (recomputed !== e.hash) reason = "hash_mismatch";
      else if (e.seq !== expected) reason = (e.seq < expected || seqs.has(expected)) ? "out_of_order" : "missing_entry";
      else if (e.prev_hash !== prev) reason = "broken_link";
      if (reason) {
        var words = document.querySelector('#reasons [data-reason="' + reason + '"]');
        say(out.dataset.bad, {seq: e.seq, reason: words ? words.textContent : reason}, false);
        return;
      }
      prev = e.hash;
      expected += 1;
    }
    say(out.dataset.ok, {count: entries.length, head: prev}, true);
  }

  verify().catch(function (err) {
    say(out.dataset.bad, {seq: "?", reason: String(err && err.message || err)}, false);
  });
})();
