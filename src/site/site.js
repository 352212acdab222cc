// capcache site: the catalog (index.html, index.html?q=TEXT) and the model pages
// (index.html?model=ORG/NAME&ctx=N&batch=N&kv=fp8).
//
// Data comes from data/*.js files loaded with <script src> (pages opened from file:// may not
// fetch local files); each calls capcacheData(name, value). Every text from the data, and from the
// address, is put into the page as text (el() makes text nodes), never as markup.
(function () {
  "use strict";

  var loaded = Object.create(null);
  window.capcacheData = function (name, value) {
    loaded[name] = value;
  };

  function load(name) {
    return new Promise(function (resolve, reject) {
      if (name in loaded) return resolve(loaded[name]);
      var s = document.createElement("script");
      s.src = "data/" + name + ".js";
      s.onload = function () {
        if (name in loaded) resolve(loaded[name]);
        else reject(new Error("data/" + name + ".js did not hold its data"));
      };
      s.onerror = function () {
        reject(new Error("cannot load data/" + name + ".js"));
      };
      document.head.appendChild(s);
    });
  }

  // ---- DOM helpers -------------------------------------------------------------------------

  // el("p", {class: "x"}, "text", child, ...): strings become text nodes.
  function el(tag, attrs) {
    var node = document.createElement(tag);
    if (attrs) {
      Object.keys(attrs).forEach(function (k) {
        var v = attrs[k];
        if (v === null || v === undefined || v === false) return;
        node.setAttribute(k, v === true ? "" : String(v));
      });
    }
    for (var i = 2; i < arguments.length; i++) add(node, arguments[i]);
    return node;
  }

  function add(node, child) {
    if (child === null || child === undefined || child === false) return;
    if (Array.isArray(child)) return child.forEach(function (c) { add(node, c); });
    node.appendChild(typeof child === "object" ? child : document.createTextNode(String(child)));
  }

  function clear(node) {
    while (node.firstChild) node.removeChild(node.firstChild);
    return node;
  }

  function main() {
    return document.getElementById("main");
  }

  function setStatus(text) {
    var s = document.getElementById("status");
    if (s) s.textContent = text;
  }

  function failed(e) {
    clear(main()).appendChild(el("p", { class: "notice", role: "alert" },
      "The site's data could not be loaded: " + (e && e.message ? e.message : String(e)) + "."));
  }

  // ---- numbers ----------------------------------------------------------------------------

  function isNum(n) {
    return typeof n === "number" && isFinite(n);
  }

  function int(n) {
    return isNum(n) ? Math.round(n).toLocaleString("en-US") : "unknown";
  }

  // 8030261248 -> "8.03 B"
  function count(n) {
    if (!isNum(n)) return "unknown";
    var units = [[1e12, "T"], [1e9, "B"], [1e6, "M"], [1e3, "K"]];
    for (var i = 0; i < units.length; i++) {
      if (n >= units[i][0]) return (n / units[i][0]).toPrecision(3).replace(/\.?0+$/, "") + " " + units[i][1];
    }
    return String(n);
  }

  // Binary units, as GPU memory is sized.
  function bytes(n) {
    if (!isNum(n)) return "unknown";
    var units = [[Math.pow(2, 40), "TiB"], [Math.pow(2, 30), "GiB"], [Math.pow(2, 20), "MiB"], [1024, "KiB"]];
    for (var i = 0; i < units.length; i++) {
      if (n >= units[i][0]) return (n / units[i][0]).toFixed(2) + " " + units[i][1];
    }
    return n + " bytes";
  }

  function pct(part, whole) {
    return whole > 0 ? (100 * part / whole).toFixed(1) + "%" : "";
  }

  // ---- addresses ----------------------------------------------------------------------------

  var params = new URLSearchParams(window.location.search);

  function href(query) {
    var parts = [];
    Object.keys(query).forEach(function (k) {
      var v = query[k];
      if (v === "" || v === null || v === undefined) return;
      parts.push(encodeURIComponent(k) + "=" + encodeURIComponent(String(v)).replace(/%2F/g, "/"));
    });
    return "index.html" + (parts.length ? "?" + parts.join("&") : "");
  }

  function replaceAddress(query) {
    try {
      window.history.replaceState(null, "", href(query));
    } catch (e) {
      // Some browsers refuse history changes on file://; the page works without.
    }
  }

  // ASCII case folding, as ids match on the Hub and as the shard hash folds them.
  function fold(s) {
    return s.replace(/[A-Z]/g, function (c) { return c.toLowerCase(); });
  }

  // FNV-1a, 32 bits, of the folded id's UTF-8 bytes (the generator's data::id_hash).
  function idHash(id) {
    var b = new TextEncoder().encode(fold(id));
    var h = 0x811c9dc5;
    for (var i = 0; i < b.length; i++) {
      h ^= b[i];
      h = Math.imul(h, 0x01000193) >>> 0;
    }
    return h >>> 0;
  }

  function hex4(k) {
    var s = k.toString(16);
    while (s.length < 4) s = "0" + s;
    return s;
  }

  function pad4(k) {
    var s = String(k);
    while (s.length < 4) s = "0" + s;
    return s;
  }

  // ---- the catalog --------------------------------------------------------------------------

  var PAGE = 100;

  function catalog(meta) {
    document.title = "capcache: model memory";
    var m = clear(main());
    m.appendChild(el("h1", null, "Models"));
    m.appendChild(el("p", { class: "lede" },
      int(meta.models) + " models with their parameter counts per dtype, weight memory and KV cache" +
      (meta.newest ? "; newest facts from " + meta.newest.slice(0, 10) : "") + "."));

    function select(id, label, options, value) {
      var s = el("select", { id: id, name: id });
      options.forEach(function (o) {
        s.appendChild(el("option", { value: o[0], selected: o[0] === value }, o[1]));
      });
      return el("div", { class: "field" }, el("label", { for: id }, label), s);
    }

    var q = el("input", { id: "q", name: "q", type: "search", autocomplete: "off", spellcheck: "false",
      placeholder: "e.g. llama 8b", value: params.get("q") || "" });
    var org = el("input", { id: "org", name: "org", type: "text", list: "orgs", autocomplete: "off",
      spellcheck: "false", value: params.get("org") || "" });
    var orgs = el("datalist", { id: "orgs" });
    (meta.organisations || []).forEach(function (o) { orgs.appendChild(el("option", { value: o[0] })); });

    var strategies = [["", "Any"]].concat(meta.strategies.map(function (s, i) { return [String(i), s]; }));
    var quants = [["", "Any"], ["0", "None"]].concat(meta.quantizations.map(function (qn, i) {
      return [String(i + 1), qn];
    }));
    var form = el("form", { class: "filters", role: "search", "aria-label": "Find models" },
      el("div", { class: "field grow" }, el("label", { for: "q" }, "Search model ids"), q),
      el("div", { class: "field" }, el("label", { for: "org" }, "Organisation"), org, orgs),
      select("strategy", "Strategy", strategies, params.get("strategy") || ""),
      select("exact", "Counts", [["", "Exact or estimate"], ["exact", "Exact"], ["estimate", "Estimate"]],
        params.get("exact") || ""),
      select("moe", "Mixture of experts", [["", "Any"], ["yes", "MoE only"], ["no", "Dense only"]],
        params.get("moe") || ""),
      select("quant", "Quantization", quants, params.get("quant") || ""));
    form.addEventListener("submit", function (e) { e.preventDefault(); });
    m.appendChild(form);

    var countLine = el("p", { id: "count", class: "count", role: "status", "aria-live": "polite" });
    m.appendChild(countLine);
    var tbody = el("tbody", { id: "results" });
    m.appendChild(el("div", { class: "scroll" }, el("table", { class: "models" },
      el("caption", { class: "sr-only" }, "Models matching the search"),
      el("thead", null, el("tr", null,
        el("th", { scope: "col" }, "Model"),
        el("th", { scope: "col", class: "num" }, "Parameters"),
        el("th", { scope: "col", class: "num" }, "Weights"),
        el("th", { scope: "col", class: "opt" }, "Dtype"),
        el("th", { scope: "col", class: "opt" }, "Counted by"))),
      tbody)));
    var more = el("button", { type: "button", id: "more", class: "more", hidden: true }, "Show more");
    m.appendChild(more);

    var rows = [];
    var folded = [];
    var chunksLoaded = 0;
    var shown = PAGE;

    function value(id) {
      return document.getElementById(id).value;
    }

    function matcher() {
      var text = fold(q.value.trim());
      var o = fold(org.value.trim());
      var st = value("strategy"), ex = value("exact"), mo = value("moe"), qu = value("quant");
      return function (r, f) {
        if (text && f.indexOf(text) < 0) return false;
        if (o && f.slice(0, f.indexOf("/")) !== o) return false;
        if (st !== "" && r[1] !== Number(st)) return false;
        if (ex === "exact" && !(r[2] & 1)) return false;
        if (ex === "estimate" && (r[2] & 1)) return false;
        if (mo === "yes" && !(r[2] & 2)) return false;
        if (mo === "no" && (r[2] & 2)) return false;
        if (qu !== "" && r[3] !== Number(qu)) return false;
        return true;
      };
    }

    function row(r) {
      var exact = r[2] & 1;
      var by = meta.strategies[r[1]] || "?";
      var params = count(r[5]);
      return el("tr", null,
        el("th", { scope: "row" }, el("a", { href: href({ model: r[0] }) }, r[0])),
        el("td", { class: "num" }, params, r[7] ? el("span", { class: "sub" }, " (" + count(r[7]) + " active)") : null),
        el("td", { class: "num" }, bytes(r[6])),
        el("td", { class: "opt" }, r[4] ? meta.dtypes[r[4] - 1] : ""),
        el("td", { class: "opt" }, by + (exact ? "" : " (estimate)")));
    }

    function render() {
      var match = matcher();
      var found = 0;
      var frag = document.createDocumentFragment();
      for (var i = 0; i < rows.length; i++) {
        if (!match(rows[i], folded[i])) continue;
        if (found < shown) frag.appendChild(row(rows[i]));
        found++;
      }
      clear(tbody).appendChild(frag);
      var text = found === 1 ? "1 model matches" : int(found) + " models match";
      if (chunksLoaded < meta.chunks) {
        text += " so far (searched " + int(rows.length) + " of " + int(meta.models) + ")";
      }
      if (found > shown) text += "; showing the first " + int(shown);
      countLine.textContent = text + ".";
      more.hidden = found <= shown;
    }

    var pending = false;
    function soon() {
      if (pending) return;
      pending = true;
      window.setTimeout(function () { pending = false; render(); }, 0);
    }

    function changed() {
      shown = PAGE;
      replaceAddress({ q: q.value, org: org.value, strategy: value("strategy"), exact: value("exact"),
        moe: value("moe"), quant: value("quant") });
      render();
    }
    form.addEventListener("input", changed);
    form.addEventListener("change", changed);
    more.addEventListener("click", function () {
      shown += PAGE;
      render();
    });

    // The first chunk draws the first screen; the rest load one after another behind it.
    function next(k) {
      if (k >= meta.chunks) return Promise.resolve();
      return load("c/" + pad4(k)).then(function (chunk) {
        for (var i = 0; i < chunk.length; i++) {
          rows.push(chunk[i]);
          folded.push(fold(chunk[i][0]));
        }
        chunksLoaded = k + 1;
        if (k === 0) render(); else soon();
        return next(k + 1);
      });
    }
    if (meta.chunks === 0) render();
    return next(0);
  }

  // ---- a model page ---------------------------------------------------------------------------

  var KV_DTYPES = [["auto", "model dtype", 0], ["fp32", "FP32", 4], ["fp16", "FP16", 2], ["bf16", "BF16", 2],
    ["fp8", "FP8", 1]];

  // GPU memory sizes to count GPUs in, GiB.
  var GPU_SIZES = [16, 24, 32, 40, 48, 80, 96, 141, 192];

  // Tensor-parallel degrees for the heads: those dividing the attention heads and, unless the
  // attention is latent (MLA), the KV heads.
  function tpDegrees(arch) {
    var heads = arch.num_attention_heads, kvHeads = arch.num_key_value_heads;
    if (!isNum(heads) || heads < 1) return [];
    return divisors(heads).filter(function (d) { return !isNum(kvHeads) || arch.mla || kvHeads % d === 0; });
  }

  function modelPage(meta, id) {
    var shard = "m/" + hex4(idHash(id) & (meta.shards - 1));
    return load(shard).then(function (data) {
      var key = find(data.models, id);
      if (key !== null) return showModel(key, data.models[key]);
      key = find(data.failures, id);
      return missing(meta, id, key === null ? null : { id: key, failure: data.failures[key] });
    });
  }

  function find(map, id) {
    if (Object.prototype.hasOwnProperty.call(map, id)) return id;
    var f = fold(id);
    var keys = Object.keys(map);
    for (var i = 0; i < keys.length; i++) if (fold(keys[i]) === f) return keys[i];
    return null;
  }

  function missing(meta, id, failed) {
    document.title = "Not in the cache · capcache";
    var m = clear(main());
    m.appendChild(el("nav", { "aria-label": "Breadcrumb", class: "crumbs" }, el("a", { href: "index.html" }, "All models")));
    m.appendChild(el("h1", null, "Not in the cache"));
    if (failed) {
      var f = failed.failure;
      m.appendChild(el("p", { class: "notice", id: "not-found" }, "capcache tried ", el("code", null, failed.id),
        " but could not count it: " + f.outcome + ". No record of it is in this cache."));
      m.appendChild(el("dl", { class: "facts" },
        dt("Outcome"), el("dd", null, f.outcome),
        dt("Message"), el("dd", null, f.message),
        dt("When"), el("dd", null, f.at)));
      if (f.tried && f.tried.length) m.appendChild(triedTable(f.tried));
    } else {
      m.appendChild(el("p", { class: "notice", id: "not-found" }, "No model named ", el("code", null, id),
        " is in this cache (" + int(meta.models) + " models)."));
    }
    m.appendChild(el("p", null, el("a", { href: href({ q: id }) }, "Search the catalog for \u201c" + id + "\u201d"),
      ", or count it now with ", el("code", null, "capcache resolve " + id), "."));
  }

  function dt(text) {
    return el("dt", null, text);
  }

  function section(id, title) {
    var s = el("section", { "aria-labelledby": id + "-h", id: id });
    s.appendChild(el("h2", { id: id + "-h" }, title));
    for (var i = 2; i < arguments.length; i++) add(s, arguments[i]);
    return s;
  }

  function positiveInt(text, fallback, max) {
    if (text === null || !/^\s*\d+\s*$/.test(text)) return fallback;
    var n = Number(text);
    return n >= 1 && n <= max ? n : fallback;
  }

  function showModel(id, rec) {
    document.title = id + " · capcache";
    var arch = rec.architecture || {};
    var m = clear(main());
    var org = id.split("/")[0];
    m.appendChild(el("nav", { "aria-label": "Breadcrumb", class: "crumbs" },
      el("a", { href: "index.html" }, "All models"), " / ", el("a", { href: href({ org: org }) }, org)));
    m.appendChild(el("h1", { id: "model-id" }, id));

    var tags = [rec.exact ? "exact" : "estimate", rec.strategy];
    if (rec.approximate) tags.push("approximate");
    if (rec.dtype) tags.push(rec.dtype);
    if (arch.moe) tags.push("MoE");
    if (arch.quantization) tags.push(arch.quantization.method + (arch.quantization.bits ? " " + arch.quantization.bits + "-bit" : ""));
    if (arch.model_type) tags.push(arch.model_type);
    m.appendChild(el("ul", { class: "tags", "aria-label": "Summary" }, tags.map(function (t, i) {
      return el("li", { class: i === 0 ? (rec.exact ? "tag good" : "tag warn") : "tag" }, t);
    })));

    // Key figures.
    var kv = rec.kv_cache_bytes_per_token;
    m.appendChild(el("div", { class: "cards" },
      card("Parameters", count(rec.logical_parameters), int(rec.logical_parameters) + " logical", "card-params"),
      card("Weight memory", bytes(rec.weight_bytes), int(rec.weight_bytes) + " bytes", "card-weights"),
      card("KV cache per token", isNum(kv) ? bytes(kv) : "none", isNum(kv) ? int(kv) + " bytes" + (rec.dtype ? " at " + rec.dtype : "") : "no KV cache known", "card-kv"),
      isNum(rec.active_parameters) ? card("Active per token", count(rec.active_parameters), int(rec.active_parameters) + " parameters", "card-active") : null));

    m.appendChild(parameters(rec));
    m.appendChild(calculator(id, rec));
    m.appendChild(parallel(rec));
    m.appendChild(architecture(arch));
    m.appendChild(provenance(rec));
    m.appendChild(section("raw", "The record",
      el("details", null, el("summary", null, "Show the record as JSON"),
        el("pre", { class: "raw", tabindex: "0" }, JSON.stringify(rec, null, 2)))));
  }

  function card(title, big, small, id) {
    return el("div", { class: "card", id: id }, el("span", { class: "card-title" }, title),
      el("span", { class: "card-big" }, big), el("span", { class: "card-small" }, small));
  }

  function parameters(rec) {
    var p = rec.parameters || {};
    var names = Object.keys(p).sort(function (a, b) { return p[b] - p[a]; });
    var body = el("tbody");
    names.forEach(function (d) {
      body.appendChild(el("tr", null, el("th", { scope: "row" }, d), el("td", { class: "num" }, int(p[d])),
        el("td", { class: "num" }, pct(p[d], rec.total))));
    });
    var foot = el("tbody", { class: "totals" },
      el("tr", null, el("th", { scope: "row" }, "Total stored"), el("td", { class: "num", id: "total" }, int(rec.total)), el("td", { class: "num" }, count(rec.total))),
      el("tr", null, el("th", { scope: "row" }, "Logical (as transformers counts)"), el("td", { class: "num", id: "logical" }, int(rec.logical_parameters)), el("td", { class: "num" }, count(rec.logical_parameters))),
      isNum(rec.active_parameters) ? el("tr", null, el("th", { scope: "row" }, "Active per token (MoE)"), el("td", { class: "num", id: "active" }, int(rec.active_parameters)), el("td", { class: "num" }, count(rec.active_parameters))) : null);
    return section("parameters", "Parameters",
      el("p", null, "Stored tensor elements per dtype, as the checkpoint holds them. Weight memory: ",
        el("strong", { id: "weight-bytes" }, bytes(rec.weight_bytes)), " (" + int(rec.weight_bytes) + " bytes)."),
      el("div", { class: "scroll" }, el("table", null,
        el("caption", { class: "sr-only" }, "Parameters per dtype"),
        el("thead", null, el("tr", null, el("th", { scope: "col" }, "Dtype"), el("th", { scope: "col", class: "num" }, "Parameters"), el("th", { scope: "col", class: "num" }, "Share"))),
        body, foot)));
  }

  function calculator(id, rec) {
    var arch = rec.architecture || {};
    var maxPos = isNum(arch.max_position_embeddings) ? arch.max_position_embeddings : null;
    var ctx = positiveInt(params.get("ctx"), maxPos ? Math.min(maxPos, 4096) : 4096, 100000000);
    var batch = positiveInt(params.get("batch"), 1, 1000000);
    var kvName = params.get("kv") || "auto";
    var gpu = params.get("gpu") || "80";
    if (GPU_SIZES.indexOf(Number(gpu)) < 0) gpu = "80";
    if (!KV_DTYPES.some(function (k) { return k[0] === kvName; })) kvName = "auto";

    var ctxIn = el("input", { id: "ctx", name: "ctx", type: "number", min: 1, max: 100000000, step: 1, value: ctx, inputmode: "numeric" });
    var batchIn = el("input", { id: "batch", name: "batch", type: "number", min: 1, max: 1000000, step: 1, value: batch, inputmode: "numeric" });
    var kvIn = el("select", { id: "kv", name: "kv" }, KV_DTYPES.map(function (k) {
      var label = k[0] === "auto" ? "Model dtype" + (rec.dtype ? " (" + rec.dtype + ")" : "") : k[1];
      return el("option", { value: k[0], selected: k[0] === kvName }, label);
    }));
    var gpuIn = el("select", { id: "gpu", name: "gpu" }, GPU_SIZES.map(function (g) {
      return el("option", { value: String(g), selected: String(g) === gpu }, g + " GiB");
    }));
    var form = el("form", { class: "calc", "aria-label": "GPU memory calculator" },
      el("div", { class: "field" }, el("label", { for: "ctx" }, "Context length (tokens)"), ctxIn),
      el("div", { class: "field" }, el("label", { for: "batch" }, "Batch size (sequences)"), batchIn),
      el("div", { class: "field" }, el("label", { for: "kv" }, "KV-cache dtype"), kvIn),
      el("div", { class: "field" }, el("label", { for: "gpu" }, "GPU memory"), gpuIn));
    form.addEventListener("submit", function (e) { e.preventDefault(); });
    var out = el("output", { id: "need", for: "ctx batch kv", class: "need", "aria-live": "polite" });
    var gpus = el("p", { id: "gpus", class: "gpus" });
    var chart = el("div", { class: "chart-box" });
    var notes = el("ul", { class: "notes" });
    var link = el("p", { class: "share" });

    function compute() {
      clear(notes);
      var c = positiveInt(ctxIn.value, null, 100000000);
      var b = positiveInt(batchIn.value, null, 1000000);
      var kvSel = kvIn.value;
      if (c === null || b === null) {
        out.textContent = "Enter a whole number of tokens (1 to 100,000,000) and sequences (1 to 1,000,000).";
        clear(chart);
        gpus.textContent = "";
        return;
      }
      var per = rec.kv_cache_bytes_per_token;
      var elems = rec.kv_cache_elements_per_token;
      var size = KV_DTYPES.filter(function (k) { return k[0] === kvSel; })[0][2];
      if (size && isNum(elems)) per = elems * size;
      else if (size) add(notes, el("li", null, "This record has no KV-cache element count; the cache is priced at the model dtype."));
      var kvBytes = isNum(per) ? per * c * b : 0;
      var state = isNum(rec.state_bytes_per_sequence) ? rec.state_bytes_per_sequence * b : 0;
      var total = rec.weight_bytes + kvBytes + state;
      clear(out);
      add(out, ["GPU memory for weights and KV cache: ", el("strong", { id: "need-total" }, bytes(total)),
        " (" + int(total) + " bytes)"]);
      var parts = [["Weights", rec.weight_bytes, "seg-weights"], ["KV cache", kvBytes, "seg-kv"]];
      if (state > 0) parts.push(["Recurrent state", state, "seg-state"]);
      clear(chart).appendChild(bar(parts, total));
      var gpuBytes = Number(gpuIn.value) * Math.pow(2, 30);
      var n = Math.ceil(total / gpuBytes);
      var fit = tpDegrees(arch).filter(function (d) { return d >= n; })[0];
      gpus.textContent = "With " + gpuIn.value + " GiB GPUs: at least " + n + (n === 1 ? " GPU" : " GPUs") +
        (fit ? "; the smallest tensor-parallel degree that fits and divides the heads is " + fit + "."
          : tpDegrees(arch).length ? "; no tensor-parallel degree that divides the heads is that large: add pipeline parallelism." : ".");
      if (!isNum(per)) add(notes, el("li", null, "No KV cache is known for this model (no usable config.json)."));
      var lt = arch.layer_types || {};
      if (lt.sliding_attention && isNum(arch.sliding_window) && c > arch.sliding_window) {
        add(notes, el("li", null, lt.sliding_attention + " of the layers attend over a sliding window of " +
          int(arch.sliding_window) + " tokens and keep no more than that: the KV cache here is an upper bound."));
      }
      if (lt.chunked_attention && isNum(arch.attention_chunk_size) && c > arch.attention_chunk_size) {
        add(notes, el("li", null, lt.chunked_attention + " of the layers attend within chunks of " +
          int(arch.attention_chunk_size) + " tokens: the KV cache here is an upper bound."));
      }
      if (maxPos && c > maxPos) {
        add(notes, el("li", null, "The config's max_position_embeddings is " + int(maxPos) + " tokens."));
      }
      add(notes, el("li", null, "Activations, CUDA graphs and the inference engine's own buffers come on top."));
      var q = { model: id, ctx: c, batch: b, kv: kvSel === "auto" ? "" : kvSel, gpu: gpuIn.value === "80" ? "" : gpuIn.value };
      clear(link).appendChild(el("a", { href: href(q), id: "share" }, "Link to this answer"));
      replaceAddress(q);
    }
    form.addEventListener("input", compute);
    form.addEventListener("change", compute);
    var s = section("calculator", "GPU memory calculator",
      el("p", null, "Memory for the weights plus the KV cache of a batch of sequences of a given length."),
      form, el("p", { class: "answer" }, out), gpus, chart, notes, link);
    compute();
    return s;
  }

  // A stacked bar of where the memory goes, with a legend that says the same in words.
  function bar(parts, total) {
    var track = el("div", { class: "bar", "aria-hidden": "true" });
    var legend = el("ul", { class: "legend" });
    parts.forEach(function (p) {
      var seg = el("span", { class: "seg " + p[2] });
      seg.style.width = total > 0 ? (100 * p[1] / total) + "%" : "0";
      track.appendChild(seg);
      legend.appendChild(el("li", null, el("span", { class: "swatch " + p[2], "aria-hidden": "true" }),
        p[0] + ": " + bytes(p[1]) + " (" + pct(p[1], total) + ")"));
    });
    return el("figure", { class: "chart" }, el("figcaption", null, "Where the memory goes"), track, legend);
  }

  function divisors(n) {
    var out = [];
    for (var d = 1; d <= n && d <= 1024; d++) if (n % d === 0) out.push(d);
    return out;
  }

  function parallel(rec) {
    var arch = rec.architecture || {};
    var heads = arch.num_attention_heads, kvHeads = arch.num_key_value_heads;
    if (!isNum(heads) || heads < 1) {
      return section("parallel", "Tensor parallelism", el("p", null, "The number of attention heads is not known."));
    }
    var degrees = divisors(heads);
    var both = tpDegrees(arch);
    var body = el("tbody");
    degrees.forEach(function (d) {
      var kvCell;
      if (arch.mla) kvCell = "latent (MLA)";
      else if (!isNum(kvHeads)) kvCell = "unknown";
      else if (kvHeads % d === 0) kvCell = String(kvHeads / d);
      else if (d % kvHeads === 0) kvCell = "1 (each copied on " + d / kvHeads + " GPUs)";
      else kvCell = "does not divide";
      body.appendChild(el("tr", null, el("th", { scope: "row" }, String(d)), el("td", { class: "num" }, String(heads / d)),
        el("td", { class: "num" }, kvCell), el("td", { class: "num" }, bytes(rec.weight_bytes / d))));
    });
    var headsText = int(heads) + " attention heads" + (isNum(kvHeads) && !arch.mla ? " and " + int(kvHeads) + " KV heads" : "");
    return section("parallel", "Tensor parallelism",
      el("p", { id: "tp" }, "Degrees that divide the " + headsText + ": ", el("strong", null, both.join(", ")), "."),
      el("div", { class: "scroll" }, el("table", null,
        el("caption", { class: "sr-only" }, "Tensor-parallel degrees"),
        el("thead", null, el("tr", null, el("th", { scope: "col" }, "Degree"), el("th", { scope: "col", class: "num" }, "Heads per GPU"),
          el("th", { scope: "col", class: "num" }, "KV heads per GPU"), el("th", { scope: "col", class: "num" }, "Weights per GPU (about)"))),
        body)));
  }

  function architecture(arch) {
    var dl = el("dl", { class: "facts" });
    function fact(name, v) {
      if (v === null || v === undefined || v === "") return;
      dl.appendChild(dt(name));
      dl.appendChild(el("dd", null, typeof v === "number" ? int(v) : v));
    }
    fact("Model type", arch.model_type);
    fact("Architectures", (arch.architectures || []).join(", "));
    fact("Layers", arch.num_hidden_layers);
    fact("Hidden size", arch.hidden_size);
    fact("Attention heads", arch.num_attention_heads);
    fact("KV heads", arch.num_key_value_heads);
    fact("Head dim", arch.head_dim);
    fact("MLP width", arch.intermediate_size);
    fact("Vocabulary", arch.vocab_size);
    fact("Max positions", arch.max_position_embeddings);
    if (typeof arch.tie_word_embeddings === "boolean") fact("Tied embeddings", arch.tie_word_embeddings ? "yes" : "no");
    fact("Sliding window", arch.sliding_window);
    fact("Attention chunk", arch.attention_chunk_size);
    if (arch.layer_types) {
      fact("Layer kinds", Object.keys(arch.layer_types).map(function (k) { return k.replace(/_/g, " ") + ": " + arch.layer_types[k]; }).join(", "));
    }
    var qz = arch.quantization;
    if (qz) {
      fact("Quantization", [qz.method, qz.bits ? qz.bits + " bits" : null, isNum(qz.group_size) ? "group " + qz.group_size : null,
        qz.format].filter(Boolean).join(", "));
    }
    var moe = arch.moe;
    if (moe) {
      fact("Experts", moe.num_experts);
      fact("Experts per token", moe.experts_per_token);
      fact("Shared experts", moe.num_shared_experts);
      fact("Expert MLP width", moe.moe_intermediate_size);
    }
    if (arch.mla) fact("Latent attention (MLA)", "KV rank " + arch.mla.kv_lora_rank + ", RoPE dim " + arch.mla.qk_rope_head_dim);
    if (arch.torch_dtype) fact("Config dtype", arch.torch_dtype);
    if (!dl.firstChild) return section("architecture", "Architecture", el("p", null, "No config.json was readable."));
    return section("architecture", "Architecture", dl);
  }

  function triedTable(tried) {
    return el("div", { class: "scroll" }, el("table", { id: "tried" },
      el("caption", null, "What was tried before"),
      el("thead", null, el("tr", null, el("th", { scope: "col" }, "Strategy"), el("th", { scope: "col" }, "Outcome"), el("th", { scope: "col" }, "Why"))),
      el("tbody", null, tried.map(function (t) {
        return el("tr", null, el("td", null, t.strategy), el("td", null, t.outcome), el("td", null, t.message || ""));
      }))));
  }

  function text(v) {
    return typeof v === "string" ? v : JSON.stringify(v);
  }

  function provenance(rec) {
    var dl = el("dl", { class: "facts" });
    function fact(name, v, id) {
      dl.appendChild(dt(name));
      dl.appendChild(el("dd", { id: id }, v));
    }
    if (rec.source !== undefined && rec.source !== null) {
      fact("Source", text(rec.source) + (rec.endpoint ? " (" + text(rec.endpoint) + ")" : ""), "source");
    }
    fact("Revision", el("code", null, rec.revision), "revision");
    fact("Strategy", rec.strategy + (rec.exact ? " (exact: read from the checkpoint)" : " (estimate: computed from config.json)") +
      (rec.approximate ? "; approximate: an unknown architecture counted as a generic decoder" : ""), "strategy");
    fact("Resolved at", rec.resolved_at, "resolved-at");
    var files = rec.files || [];
    if (files.length) {
      var shown = files.slice(0, 20);
      fact("Files read", [el("ul", { class: "plain" }, shown.map(function (f) { return el("li", null, el("code", null, f)); })),
        files.length > shown.length ? "and " + int(files.length - shown.length) + " more" : null]);
    }
    var cc = rec.cross_check || {};
    if (Object.keys(cc).length) {
      fact("Cross-check", Object.keys(cc).map(function (k) { return k + ": " + int(cc[k]); }).join(", "));
    }
    var made = rec.made_with || {};
    if (Object.keys(made).length) fact("Made with", text(made));
    var s = section("provenance", "Where the numbers come from", dl);
    if (rec.tried && rec.tried.length) s.appendChild(triedTable(rec.tried));
    var may = rec.may_also_store;
    if (Array.isArray(may) && may.length) {
      s.appendChild(el("div", { id: "may-also-store" },
        el("h3", null, "What a checkpoint may also store"),
        el("p", null, "This is an estimate. A checkpoint of this architecture may hold more than the layout transformers saves today; a Hub total is the total above plus some of these:"),
        el("ul", null, may.map(function (x) {
          return el("li", null, text(x.what) + ": " + int(x.parameters) + " parameters");
        }))));
    }
    if (rec.warnings && rec.warnings.length) {
      s.appendChild(el("div", { id: "warnings" }, el("h3", null, "Notes"),
        el("ul", null, rec.warnings.map(function (w) { return el("li", null, text(w)); }))));
    }
    return s;
  }

  // ---- start ----------------------------------------------------------------------------------

  function start() {
    load("meta").then(function (meta) {
      var model = params.get("model");
      if (model !== null) return modelPage(meta, model.trim());
      return catalog(meta);
    }).catch(failed);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
