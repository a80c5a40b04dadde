package web

import (
	"fmt"
	"html/template"
	"strings"
)

// The charts are SVG drawn here, on the server: they show on every browser
// with scripts off, cost no library or download, follow the page's CSS, and
// an update is the same HTML fetched again. Text is escaped; numbers are
// formatted by the caller.

const (
	chartW, chartH = 600, 150
	chartPad       = 4
)

// chartSeries is one chart: a value per point, oldest first, with the label
// each point's tooltip shows.
type chartSeries struct {
	Title  string
	Values []float64
	Labels []string // tooltip per point
	Max    string   // the top of the scale, formatted, shown beside the title
	Line   bool     // a line rather than bars
	// From and To label the first and last points, under the chart.
	From, To string
}

func (c chartSeries) SVG() template.HTML {
	top := 0.0
	for _, v := range c.Values {
		top = max(top, v)
	}
	n := len(c.Values)
	if n == 0 || top <= 0 {
		return `<p class="chart chart-empty">nothing to show yet</p>`
	}
	var b strings.Builder
	// The chart stretches to its box (preserveAspectRatio none), so it
	// holds no text; the scale is in the caption.
	fmt.Fprintf(&b, `<svg class="chart" viewBox="0 0 %d %d" role="img" aria-label="%s" preserveAspectRatio="none">`,
		chartW, chartH, template.HTMLEscapeString(c.Title))
	fmt.Fprintf(&b, `<line x1="0" y1="%d" x2="%d" y2="%d" class="chart-axis"/>`, chartH-1, chartW, chartH-1)
	step := float64(chartW) / float64(n)
	y := func(v float64) float64 { return chartH - 1 - (v/top)*(chartH-chartPad) }
	if c.Line {
		var pts []string
		for i, v := range c.Values {
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", step*(float64(i)+0.5), y(v)))
		}
		fmt.Fprintf(&b, `<polyline points="%s" class="chart-line"/>`, strings.Join(pts, " "))
	}
	for i, v := range c.Values {
		x := step * float64(i)
		label := ""
		if i < len(c.Labels) {
			label = template.HTMLEscapeString(c.Labels[i])
		}
		if c.Line {
			fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="3" class="chart-dot"><title>%s</title></circle>`, x+step/2, y(v), label)
			continue
		}
		h := max(float64(chartH-1)-y(v), 1)
		fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" class="chart-bar"><title>%s</title></rect>`,
			x+step*0.12, y(v), step*0.76, h, label)
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}
