// A test harness, not part of the site: tests/site.rs copies it beside a generated site and loads
// it after site.js. When the page has rendered, it checks what a keyboard or low-vision user
// meets and writes a JSON report into <pre id="a11y-report">, which the test reads from the DOM.
(function () {
  "use strict";
  function rgba(s) {
    const m = /rgba?\(([^)]*)\)/.exec(s);
    if (!m) return null;
    const p = m[1].split(/[\s,/]+/).filter(Boolean).map(Number);
    return [p[0], p[1], p[2], p.length > 3 ? p[3] : 1];
  }
  function over(top, under) {
    const a = top[3];
    return [0, 1, 2].map((i) => top[i] * a + under[i] * (1 - a)).concat([1]);
  }
  function background(el) {
    const layers = [];
    for (let e = el; e; e = e.parentElement) {
      const c = rgba(getComputedStyle(e).backgroundColor);
      if (c && c[3] > 0) {
        layers.push(c);
        if (c[3] >= 1) break;
      }
    }
    let bg = matchMedia("(prefers-color-scheme: dark)").matches ? [0, 0, 0, 1] : [255, 255, 255, 1];
    for (let i = layers.length - 1; i >= 0; i--) bg = over(layers[i], bg);
    return bg;
  }
  function luminance(c) {
    const lin = (v) => ((v /= 255) <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4));
    return 0.2126 * lin(c[0]) + 0.7152 * lin(c[1]) + 0.0722 * lin(c[2]);
  }
  function ratio(a, b) {
    const [l1, l2] = [luminance(a), luminance(b)].sort((x, y) => y - x);
    return (l1 + 0.05) / (l2 + 0.05);
  }
  function visible(el) {
    // checkVisibility also hides what a closed <details> holds.
    return el.getClientRects().length > 0 && el.checkVisibility({ checkOpacity: true, checkVisibilityCSS: true });
  }
  function describe(el) {
    const text = (el.textContent || el.getAttribute("aria-label") || "").trim().slice(0, 40);
    return el.tagName.toLowerCase() + (el.id ? "#" + el.id : "") + (el.className ? "." + el.className : "") + " " + JSON.stringify(text);
  }
  function check() {
    const report = {
      dark: matchMedia("(prefers-color-scheme: dark)").matches,
      width: window.innerWidth,
      scrollWidth: document.documentElement.scrollWidth,
      texts: 0, lowContrast: [], controls: 0, unlabeled: [], unfocusable: [], noFocusStyle: [],
      positiveTabindex: [], pointerOnly: [],
    };
    for (const el of document.body.querySelectorAll("*")) {
      if (!(el instanceof HTMLElement) || el.id === "a11y-report" || !visible(el)) continue;
      const s = getComputedStyle(el);
      const ownText = [...el.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim());
      if (ownText) {
        report.texts++;
        const bg = background(el);
        const fg = over(rgba(s.color), bg);
        const size = parseFloat(s.fontSize);
        const large = size >= 24 || (size >= 18.66 && Number(s.fontWeight) >= 700);
        const r = ratio(fg, bg);
        if (r < (large ? 3 : 4.5)) report.lowContrast.push(describe(el) + " " + r.toFixed(2));
      }
      if (s.cursor === "pointer" && !el.closest("a[href], button, input, select, textarea, label, summary, [tabindex]")) {
        report.pointerOnly.push(describe(el));
      }
      if (el.tabIndex > 0) report.positiveTabindex.push(describe(el));
    }
    const controls = document.body.querySelectorAll("a[href], button, input, select, textarea, summary, [tabindex]:not([tabindex='-1'])");
    for (const el of controls) {
      if (!visible(el) || el.classList.contains("skip")) continue;
      report.controls++;
      if (el.matches("input, select, textarea")) {
        const named = (el.labels && el.labels.length > 0) || el.getAttribute("aria-label") || el.getAttribute("aria-labelledby");
        if (!named) report.unlabeled.push(describe(el));
      } else if (!(el.textContent || "").trim() && !el.getAttribute("aria-label")) {
        report.unlabeled.push(describe(el));
      }
      el.focus();
      if (document.activeElement !== el) {
        report.unfocusable.push(describe(el));
        continue;
      }
      const f = getComputedStyle(el);
      const outline = f.outlineStyle !== "none" && parseFloat(f.outlineWidth) > 0;
      if (!outline && f.boxShadow === "none") report.noFocusStyle.push(describe(el));
      el.blur();
    }
    const pre = document.createElement("pre");
    pre.id = "a11y-report";
    pre.textContent = JSON.stringify(report);
    document.body.appendChild(pre);
  }
  // site.js renders once its data scripts have loaded: wait until the status line is no longer
  // "Loading…" (virtual time in the headless browser makes these waits instant).
  let tries = 0;
  (function wait() {
    const status = document.getElementById("status");
    if ((status && /Loading/.test(status.textContent) && tries++ < 100)) return setTimeout(wait, 50);
    setTimeout(check, 100);
  })();
})();
