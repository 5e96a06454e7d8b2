"""``--html``: one self-contained page that opens offline, in any current browser.

pyvista's own HTML export (``Plotter.export_html``) needs trame, trame-vtk and
trame-pyvista, starts a trame server to write the file, embeds about 1 MB of vtk.js, and
the page still names web addresses; it also cannot show every scene (volume rendering
in vtk.js differs). medtk writes its own page instead, plain HTML and JavaScript with
everything inline (no network, no external file, no ``http(s)://`` anywhere):

- a **turntable** of the 3D render (``volume``, ``labels``, ``compare``): pictures
  rendered every 360/N degrees of azimuth, as PNG data URIs; drag the picture or move
  the slider to turn it;
- a **three-view viewer** of the data itself: the xy, xz and yz planes (oriented as in
  ``medtk render slices``, in physical proportions), sliders for the point they go
  through (or click a panel), the label overlay in class colours with an opacity
  slider, and a maximum-projection mode. The volume (and its labels) travel as gzip'd
  8-bit arrays in base64, decoded by the browser's ``DecompressionStream``; the viewer's
  volume is read at most 160³ voxels so the page stays a few MB.
"""

from __future__ import annotations

import base64
import gzip
import html
import io
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from medtk.atomic import written_aside
from medtk.viz.render.classes import ClassStyle

#: Voxels the viewer's volume holds at most (the page size follows: about 1–4 MB).
VIEWER_MAX_VOXELS = 160**3
#: Widest turntable picture, in pixels.
FRAME_WIDTH = 480


def html_path(png: Path) -> Path:
    """Where ``--html`` writes beside ``OUT.png``: ``OUT.html``."""
    return png.with_suffix(".html")


def png_data_uri(image: np.ndarray) -> str:
    """An RGB ``(H, W, 3)`` uint8 picture as a ``data:image/png;base64,…`` URI."""
    from PIL import Image

    buffer = io.BytesIO()
    with Image.fromarray(np.ascontiguousarray(image)) as picture:
        picture.save(buffer, format="PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _packed(array: np.ndarray | None) -> str | None:
    if array is None:
        return None
    raw = np.ascontiguousarray(array, dtype=np.uint8).tobytes()
    return base64.b64encode(gzip.compress(raw, compresslevel=6, mtime=0)).decode("ascii")


def to_bytes(volume: np.ndarray, window: tuple[float, float]) -> np.ndarray:
    """Intensities through ``window`` as 0–255."""
    low, high = window
    t = (volume.astype(np.float32) - low) / max(high - low, 1e-12)
    return (np.clip(t, 0.0, 1.0) * 255 + 0.5).astype(np.uint8)


def compact_labels(
    labels: np.ndarray, styles: Sequence[ClassStyle]
) -> tuple[np.ndarray, list[dict[str, object]]]:
    """Labels as indices 1…K into the returned class list (0 elsewhere); past 255
    classes (instance labels) the indices, and so the colours, repeat."""
    values = np.array(sorted(style.value for style in styles), dtype=np.int64)
    by_value = {style.value: style for style in styles}
    index = np.zeros(labels.shape, dtype=np.uint8)
    if values.size:
        flat = labels.astype(np.int64, copy=False)
        rank = np.clip(np.searchsorted(values, flat), 0, values.size - 1)
        known = values[rank] == flat
        index[known] = (rank[known] % 255 + 1).astype(np.uint8)
    classes = [
        {"index": i + 1, "name": by_value[int(v)].name, "colour": by_value[int(v)].hex}
        for i, v in enumerate(values[:255])
    ]
    return index, classes


def write_html(
    path: Path,
    *,
    title: str,
    note: str,
    spacing: tuple[float, float, float],
    unit: str,
    grey: np.ndarray | None,
    labels: np.ndarray | None,
    classes: Sequence[dict[str, object]],
    point: tuple[int, int, int],
    frames: Sequence[np.ndarray] = (),
    mode: str = "slice",
    overlay: float = 0.45,
    colours: np.ndarray | None = None,
    overwrite: bool = False,
) -> Path:
    """Write the page; ``grey`` (uint8) and ``labels`` (class indices) are ``(z, y, x)``
    volumes of one shape (either may be None, not both); ``frames`` the turntable.

    :param colours: the grey values' colour ramp (``(n, 3)``, 0–1); grey when None.
    """
    volume = grey if grey is not None else labels
    if volume is None:
        raise ValueError("write_html needs grey values or labels")
    ramp = None
    if colours is not None:
        samples = np.linspace(0, len(colours) - 1, 256)
        ramp = [
            [
                round(float(np.interp(s, np.arange(len(colours)), colours[:, c])) * 255)
                for c in range(3)
            ]
            for s in samples
        ]
    data = {
        "title": title,
        "note": note,
        "shape": list(volume.shape),
        "spacing": [float(s) for s in spacing],
        "unit": unit,
        "point": [int(p) for p in point],
        "grey": _packed(grey),
        "labels": _packed(labels),
        "classes": list(classes),
        "frames": [png_data_uri(frame) for frame in frames],
        "mode": mode,
        "overlay": overlay,
        "ramp": ramp,
    }
    payload = json.dumps(data, separators=(",", ":")).replace("</", "<\\/")
    page = (
        _PAGE.replace("__TITLE__", html.escape(title))
        .replace("__STYLE__", _STYLE)
        .replace("__DATA__", payload)
        .replace("__SCRIPT__", _SCRIPT)
    )
    with written_aside(path, overwrite=overwrite) as work:
        work.write_text(page, encoding="utf-8")
    return path


_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="medtk render">
<title>__TITLE__</title>
<style>__STYLE__</style>
</head>
<body>
<h1 id="title"></h1>
<p id="note" class="note"></p>
<section id="turntable" hidden>
  <h2>3D view</h2>
  <img id="frame" alt="3D render" draggable="false">
  <div class="controls"><label>turn <input id="angle" type="range" min="0" value="0"></label>
  <button id="play" type="button">play</button>
  <span class="note">drag the picture to turn it</span></div>
</section>
<section id="viewer">
  <h2 id="viewer-title">Slices</h2>
  <div class="controls">
    <label>view <select id="mode"><option value="slice">slices</option>
      <option value="mip">maximum projections</option></select></label>
    <label id="overlay-control">labels <input id="overlay" type="range" min="0" max="100"></label>
  </div>
  <div id="panels"></div>
  <div class="controls" id="sliders"></div>
  <ul id="legend"></ul>
  <p id="status" class="note"></p>
</section>
<script type="application/json" id="medtk-data">__DATA__</script>
<script>__SCRIPT__</script>
</body>
</html>
"""

_STYLE = """
body { font: 14px system-ui, sans-serif; margin: 1.2em; color: #222; background: #fafafa; }
h1 { font-size: 1.3em; margin: 0 0 .2em; } h2 { font-size: 1.05em; margin: 1em 0 .4em; }
.note { color: #666; font-size: .9em; margin: .2em 0; }
.controls { margin: .4em 0; display: flex; flex-wrap: wrap; gap: 1.2em; align-items: center; }
#frame { max-width: 100%; cursor: grab; user-select: none; border: 1px solid #ddd; }
#panels { display: flex; flex-wrap: wrap; gap: 12px; align-items: flex-start; }
figure { margin: 0; } figcaption { font-size: .9em; color: #444; text-align: center; }
canvas { image-rendering: pixelated; background: #000; border: 1px solid #ccc; cursor: crosshair; }
#legend { list-style: none; padding: 0; display: flex; flex-wrap: wrap; gap: .3em 1.2em; }
#legend span { display: inline-block; width: .9em; height: .9em; margin-right: .35em;
  vertical-align: -.1em; border: 1px solid #999; }
input[type=range] { vertical-align: middle; }
"""

_SCRIPT = r"""
"use strict";
const D = JSON.parse(document.getElementById("medtk-data").textContent);
// panel: [axis it cuts, row axis, column axis, rows point upward]
const PANELS = { xy: [0, 1, 2, false], xz: [1, 0, 2, true], yz: [2, 0, 1, true] };
const NAMES = "zyx";
const [NZ, NY, NX] = D.shape;
const point = D.point.slice();
let grey = null, labels = null, mips = null, mode = D.mode, overlay = D.overlay;
const palette = new Uint8Array(256 * 3);
for (const c of D.classes) {
  const hex = c.colour.slice(1);
  for (let k = 0; k < 3; k++) palette[c.index * 3 + k] = parseInt(hex.slice(2 * k, 2 * k + 2), 16);
}
const ramp = new Uint8Array(256 * 3);
for (let v = 0; v < 256; v++) {
  for (let k = 0; k < 3; k++) ramp[v * 3 + k] = D.ramp ? D.ramp[v][k] : v;
}

async function inflate(b64) {
  if (!b64) return null;
  const bytes = Uint8Array.from(atob(b64), (ch) => ch.charCodeAt(0));
  const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

function at(z, y, x) { return (z * NY + y) * NX + x; }

function projections() {
  // maximum along each axis, of the grey values (or of the label indices without them)
  const src = grey || labels;
  const out = {
    xy: new Uint8Array(NY * NX), xz: new Uint8Array(NZ * NX), yz: new Uint8Array(NZ * NY),
  };
  for (let z = 0; z < NZ; z++) for (let y = 0; y < NY; y++) for (let x = 0; x < NX; x++) {
    const v = src[at(z, y, x)];
    if (v > out.xy[y * NX + x]) out.xy[y * NX + x] = v;
    if (v > out.xz[z * NX + x]) out.xz[z * NX + x] = v;
    if (v > out.yz[z * NY + y]) out.yz[z * NY + y] = v;
  }
  return out;
}

const canvases = {};
function setupPanels() {
  const box = document.getElementById("panels");
  const tall = 360;
  for (const name of Object.keys(PANELS)) {
    const [axis, ra, ca] = PANELS[name];
    const rows = D.shape[ra], cols = D.shape[ca];
    const fig = document.createElement("figure");
    const canvas = document.createElement("canvas");
    canvas.width = cols; canvas.height = rows;
    const h = rows * D.spacing[ra], w = cols * D.spacing[ca];
    const scale = tall / Math.max(h, w * 0.6);
    canvas.style.width = (w * scale).toFixed(1) + "px";
    canvas.style.height = (h * scale).toFixed(1) + "px";
    const caption = document.createElement("figcaption");
    fig.append(canvas, caption);
    box.append(fig);
    canvas.addEventListener("click", (event) => {
      const r = canvas.getBoundingClientRect();
      let col = Math.floor((event.clientX - r.left) / r.width * cols);
      let row = Math.floor((event.clientY - r.top) / r.height * rows);
      if (PANELS[name][3]) row = rows - 1 - row;
      point[ra] = Math.min(Math.max(row, 0), rows - 1);
      point[ca] = Math.min(Math.max(col, 0), cols - 1);
      syncSliders(); drawAll();
    });
    canvases[name] = { canvas, caption, context: canvas.getContext("2d") };
  }
}

const sliders = [];
function setupSliders() {
  const box = document.getElementById("sliders");
  for (let axis = 0; axis < 3; axis++) {
    const label = document.createElement("label");
    const input = document.createElement("input");
    input.type = "range"; input.min = 0; input.max = D.shape[axis] - 1; input.value = point[axis];
    input.addEventListener("input", () => { point[axis] = +input.value; drawAll(); });
    label.append(NAMES[axis] + " ", input);
    box.append(label);
    sliders.push(input);
  }
}
function syncSliders() { sliders.forEach((s, axis) => { s.value = point[axis]; }); }

function drawPanel(name) {
  const [axis, ra, ca, up] = PANELS[name];
  const rows = D.shape[ra], cols = D.shape[ca];
  const { context, caption } = canvases[name];
  const image = context.createImageData(cols, rows);
  const px = image.data;
  const idx = [0, 0, 0];
  const alpha = overlay;
  for (let r = 0; r < rows; r++) {
    const row = up ? rows - 1 - r : r;
    for (let c = 0; c < cols; c++) {
      let g, lab = 0;
      if (mode === "mip") {
        g = mips[name][row * cols + c];
      } else {
        idx[axis] = point[axis]; idx[ra] = row; idx[ca] = c;
        const i = at(idx[0], idx[1], idx[2]);
        g = grey ? grey[i] : 0;
        lab = labels ? labels[i] : 0;
      }
      const o = (r * cols + c) * 4;
      let red = ramp[g * 3], green = ramp[g * 3 + 1], blue = ramp[g * 3 + 2];
      if (!grey && mode === "mip") {
        red = palette[g * 3]; green = palette[g * 3 + 1]; blue = palette[g * 3 + 2];
      }
      if (lab) {
        const a = grey ? alpha : 1;
        red = (1 - a) * red + a * palette[lab * 3];
        green = (1 - a) * green + a * palette[lab * 3 + 1];
        blue = (1 - a) * blue + a * palette[lab * 3 + 2];
      }
      px[o] = red; px[o + 1] = green; px[o + 2] = blue; px[o + 3] = 255;
    }
  }
  context.putImageData(image, 0, 0);
  caption.textContent = mode === "mip"
    ? name + " — maximum along " + NAMES[axis]
    : name + " — " + NAMES[axis] + " = " + point[axis];
}
function drawAll() { for (const name of Object.keys(PANELS)) drawPanel(name); }

function setupTurntable() {
  if (!D.frames.length) return;
  document.getElementById("turntable").hidden = false;
  const img = document.getElementById("frame"), angle = document.getElementById("angle");
  angle.max = D.frames.length - 1;
  let current = 0, timer = null;
  const count = D.frames.length;
  const show = (k) => {
    current = ((k % count) + count) % count;
    img.src = D.frames[current];
    angle.value = current;
  };
  show(0);
  angle.addEventListener("input", () => show(+angle.value));
  let from = null;
  img.addEventListener("pointerdown", (e) => {
    from = e.clientX;
    img.setPointerCapture(e.pointerId);
  });
  img.addEventListener("pointerup", () => { from = null; });
  img.addEventListener("pointermove", (e) => {
    if (from === null) return;
    const step = Math.max(4, img.clientWidth / D.frames.length / 2);
    const moved = Math.trunc((e.clientX - from) / step);
    if (moved) { show(current - moved); from = e.clientX; }
  });
  document.getElementById("play").addEventListener("click", (e) => {
    if (timer) { clearInterval(timer); timer = null; e.target.textContent = "play"; return; }
    timer = setInterval(() => show(current + 1), 120); e.target.textContent = "stop";
  });
}

function setupLegend() {
  const list = document.getElementById("legend");
  for (const c of D.classes) {
    const item = document.createElement("li");
    const swatch = document.createElement("span");
    swatch.style.background = c.colour;
    item.append(swatch, c.name);
    list.append(item);
  }
  const control = document.getElementById("overlay-control");
  if (!D.labels || !D.grey) { control.hidden = true; return; }
  const input = document.getElementById("overlay");
  input.value = Math.round(overlay * 100);
  input.addEventListener("input", () => { overlay = input.value / 100; drawAll(); });
}

async function main() {
  document.getElementById("title").textContent = D.title;
  document.getElementById("note").textContent = D.note;
  setupTurntable();
  const status = document.getElementById("status");
  if (typeof DecompressionStream === "undefined") {
    status.textContent = "This browser cannot unpack the volume (no DecompressionStream); " +
      "use a current Firefox, Chrome or Safari.";
    return;
  }
  [grey, labels] = await Promise.all([inflate(D.grey), inflate(D.labels)]);
  setupPanels(); setupSliders(); setupLegend();
  const select = document.getElementById("mode");
  select.value = mode;
  select.addEventListener("change", () => {
    mode = select.value;
    if (mode === "mip" && !mips) mips = projections();
    document.getElementById("sliders").hidden = mode === "mip";
    drawAll();
  });
  if (mode === "mip") { mips = projections(); document.getElementById("sliders").hidden = true; }
  drawAll();
  status.textContent = NZ + " × " + NY + " × " + NX + " voxels of " +
    D.spacing.map((s) => s.toPrecision(3)).join(" × ") + " " + (D.unit || "units") + " (z × y × x)";
}
main().catch((error) => {
  document.getElementById("status").textContent = "Could not show the volume: " + error;
});
"""
