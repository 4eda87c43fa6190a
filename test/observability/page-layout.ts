/**
 * Layout checks for the status page, run inside the browser. Plain JavaScript in strings: the page gets them
 * as they are, with nothing the test's compiler adds.
 *
 * CANVAS_TEXT_RECORDER (an init script) wraps the 2D canvas' fillText and keeps, per canvas, the box of every
 * text drawn since the canvas was last cleared whole, in canvas pixels: the chart library draws its axis labels
 * that way, so a label cut off at the canvas' edge or drawn over another is seen.
 *
 * LAYOUT_AUDIT returns what is wrong, as readable lines:
 *  - an element of the page (the cards and all they hold) whose content is wider or taller than its box
 *    (scrollWidth > clientWidth, scrollHeight > clientHeight), and a page wider than the window;
 *  - two pieces of text of one card whose boxes intersect;
 *  - a chart label that reaches past its canvas, intersects another label of the same canvas or reads the same
 *    as the one drawn before it (ticks finer than the labels);
 *  - a chart series whose line cannot be seen (fewer of its pixels in the plot than a line across it has),
 *    unless the chart's note says it has no data yet.
 */

export const CANVAS_TEXT_RECORDER = `(() => {
  const proto = CanvasRenderingContext2D.prototype;
  const fillText = proto.fillText;
  const clearRect = proto.clearRect;
  proto.clearRect = function (x, y, w, h) {
    if (x <= 0 && y <= 0 && w >= this.canvas.width && h >= this.canvas.height) this.canvas.__texts = [];
    return clearRect.apply(this, arguments);
  };
  proto.fillText = function (text, x, y) {
    const m = this.measureText(text);
    const t = this.getTransform();
    const box = {
      text: String(text),
      left: t.a * (x - m.actualBoundingBoxLeft) + t.e, right: t.a * (x + m.actualBoundingBoxRight) + t.e,
      top: t.d * (y - m.actualBoundingBoxAscent) + t.f, bottom: t.d * (y + m.actualBoundingBoxDescent) + t.f,
      rotated: t.b !== 0 || t.c !== 0,
    };
    (this.canvas.__texts = this.canvas.__texts || []).push(box);
    return fillText.apply(this, arguments);
  };
})();`;

export const LAYOUT_AUDIT = `(() => {
  const problems = [];
  const name = (el) => {
    const parts = [];
    for (let e = el; e && e !== document.body && parts.length < 4; e = e.parentElement) {
      parts.unshift(e.tagName.toLowerCase() + (e.id ? "#" + e.id : "") + (typeof e.className === "string" && e.className ? "." + e.className.trim().split(/\\s+/).join(".") : ""));
    }
    return parts.join(" > ");
  };
  const root = document.documentElement;
  if (root.scrollWidth > root.clientWidth) problems.push("page: " + root.scrollWidth + " px wide in a " + root.clientWidth + " px window");

  // 1. Nothing wider or taller than its box.
  for (const el of document.querySelectorAll("header, header *, main, main *")) {
    const cs = getComputedStyle(el);
    if (cs.display === "inline" || cs.display === "none" || el.tagName === "CANVAS") continue;
    if (el.scrollWidth > el.clientWidth) problems.push("overflow: " + name(el) + " content " + el.scrollWidth + " px wide in " + el.clientWidth + " px");
    if (el.scrollHeight > el.clientHeight) problems.push("overflow: " + name(el) + " content " + el.scrollHeight + " px tall in " + el.clientHeight + " px");
  }

  // 2. No two pieces of text of a card on top of each other.
  const hit = (a, b) => Math.min(a.right, b.right) - Math.max(a.left, b.left) > 0.5 && Math.min(a.bottom, b.bottom) - Math.max(a.top, b.top) > 0.5;
  for (const card of document.querySelectorAll("header, .card")) {
    const boxes = [];
    const walk = document.createTreeWalker(card, NodeFilter.SHOW_TEXT);
    for (let n = walk.nextNode(); n; n = walk.nextNode()) {
      if (!n.textContent.trim() || !n.parentElement || !n.parentElement.offsetParent) continue;
      const r = document.createRange();
      r.selectNodeContents(n);
      for (const rect of r.getClientRects()) if (rect.width > 0 && rect.height > 0) boxes.push({ text: n.textContent.trim(), rect });
    }
    for (let i = 0; i < boxes.length; i++) {
      for (let j = i + 1; j < boxes.length; j++) {
        if (boxes[i].text !== boxes[j].text && hit(boxes[i].rect, boxes[j].rect)) problems.push("text overlaps: " + JSON.stringify(boxes[i].text) + " and " + JSON.stringify(boxes[j].text) + " in " + name(card));
      }
    }
  }

  // 3. Chart labels inside their canvas and apart.
  for (const cv of document.querySelectorAll(".uplot canvas")) {
    const chart = cv.closest(".chart");
    const where = chart ? "#" + chart.id : name(cv);
    const texts = cv.__texts || [];
    for (const t of texts) {
      if (t.rotated) problems.push("label " + JSON.stringify(t.text) + " in " + where + " is rotated: not checked");
      if (t.left < 0 || t.top < 0 || t.right > cv.width || t.bottom > cv.height) {
        problems.push("label clipped: " + JSON.stringify(t.text) + " in " + where + " spans x " + t.left.toFixed(1) + "…" + t.right.toFixed(1) + ", y " + t.top.toFixed(1) + "…" + t.bottom.toFixed(1) + " of a " + cv.width + "×" + cv.height + " canvas");
      }
    }
    for (let i = 0; i < texts.length; i++) {
      for (let j = i + 1; j < texts.length; j++) {
        if (hit(texts[i], texts[j])) problems.push("labels overlap: " + JSON.stringify(texts[i].text) + " and " + JSON.stringify(texts[j].text) + " in " + where);
      }
      // Labels are drawn tick by tick: two neighbours alike mean ticks finer than the labels.
      if (i > 0 && texts[i].text === texts[i - 1].text) problems.push("label twice in a row: " + JSON.stringify(texts[i].text) + " in " + where);
    }
  }

  // 4. Every series of a chart can be seen: pixels of its colour in the plot area, at least one per column.
  for (const chart of document.querySelectorAll(".chart")) {
    const cv = chart.querySelector(".uplot canvas");
    const over = chart.querySelector(".u-over");
    // A chart with fewer than two points says so in its note and has no line to see.
    const note = chart.querySelector(".note");
    if (!cv || !over || (note && note.textContent.trim())) continue;
    const ratio = cv.width / cv.clientWidth;
    const x0 = Math.round(over.offsetLeft * ratio), y0 = Math.round(over.offsetTop * ratio);
    const w = Math.round(over.clientWidth * ratio), h = Math.round(over.clientHeight * ratio);
    if (w <= 0 || h <= 0) continue;
    const px = cv.getContext("2d").getImageData(x0, y0, w, h).data;
    // The first legend row is the x series (time), drawn as no line.
    for (const marker of chart.querySelectorAll(".u-legend .u-series:not(:first-child) .u-marker")) {
      const label = marker.parentElement.textContent.trim();
      const m = /rgba?\\((\\d+), (\\d+), (\\d+)/.exec(getComputedStyle(marker).borderLeftColor);
      if (!m) continue;
      const [r, g, b] = [Number(m[1]), Number(m[2]), Number(m[3])];
      let seen = 0;
      for (let i = 0; i < px.length; i += 4) {
        if (px[i + 3] > 200 && Math.abs(px[i] - r) + Math.abs(px[i + 1] - g) + Math.abs(px[i + 2] - b) < 40) seen++;
      }
      if (seen < w * 0.9) problems.push("series hidden: " + JSON.stringify(label) + " in #" + chart.id + " has " + seen + " px of its colour in a " + w + " px wide plot");
    }
  }
  return problems;
})()`;
