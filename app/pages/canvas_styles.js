// Loaded right after BokehJS, before any plot is drawn: see canvas_styles.py for why.
(function () {
  var visual
  try {
    visual = window.Bokeh.require("core/visuals/visual")
  } catch (error) {
    return
  }
  var proto = visual && visual.VisualProperties && visual.VisualProperties.prototype
  if (!proto || typeof proto._get_css_value !== "function") {
    return
  }
  proto._get_css_value = function () {
    return ""
  }
  window.__driftdeckCanvasStyles = true
})()
