package console

import (
	"fmt"
	"html/template"
	"math"
	"strings"
	"time"
)

// Chart geometry, in SVG user units (the image scales to its box).
const (
	chartW, chartH = 600, 140
	chartLeft      = 56 // room for the y labels
	chartTop       = 8
	chartBottom    = 20 // room for the x labels
)

// chartSVG renders rates over the window ending at now as an SVG line
// chart of bits per second, received and sent; while the samples cover
// less than the window (a daemon just started), the chart spans what they
// cover. It uses presentation attributes only (no style attribute), so the
// strict CSP holds.
func chartSVG(name string, rates []Rate, now time.Time, window time.Duration) template.HTML {
	var b strings.Builder
	span := window
	if len(rates) > 0 && now.Sub(rates[0].From) < window {
		span = max(now.Sub(rates[0].From), time.Second)
	}
	fmt.Fprintf(&b, `<svg class="chart" viewBox="0 0 %d %d" role="img" aria-label="throughput of %s over the last %s" xmlns="http://www.w3.org/2000/svg">`,
		chartW, chartH, template.HTMLEscapeString(name), fmtWindow(window))
	plotW, plotH := float64(chartW-chartLeft-4), float64(chartH-chartTop-chartBottom)
	peak := 0.0
	for _, r := range rates {
		peak = math.Max(peak, math.Max(r.Rx, r.Tx)*8)
	}
	top := niceCeil(peak)
	// Axes, grid and labels.
	fmt.Fprintf(&b, `<g fill="none" stroke="#ccc" stroke-width="1"><path d="M%d %d H%d M%d %d H%d M%d %d H%d"/></g>`,
		chartLeft, chartTop, chartW-4, chartLeft, chartTop+int(plotH/2), chartW-4, chartLeft, chartTop+int(plotH), chartW-4)
	fmt.Fprintf(&b, `<g font-size="11" fill="#555" font-family="sans-serif">`)
	fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="end">%s</text>`, chartLeft-4, chartTop+4, fmtBits(top))
	fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="end">%s</text>`, chartLeft-4, chartTop+int(plotH/2)+4, fmtBits(top/2))
	fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="end">0</text>`, chartLeft-4, chartTop+int(plotH)+4)
	fmt.Fprintf(&b, `<text x="%d" y="%d">-%s</text>`, chartLeft, chartH-4, fmtWindow(span))
	fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="end">now</text></g>`, chartW-4, chartH-4)
	if len(rates) == 0 {
		fmt.Fprintf(&b, `<text x="%d" y="%d" font-size="12" fill="#555" font-family="sans-serif" text-anchor="middle">collecting samples…</text></svg>`,
			chartLeft+int(plotW/2), chartTop+int(plotH/2)-6)
		return template.HTML(b.String())
	}
	point := func(r Rate, v float64) string {
		x := float64(chartLeft) + plotW*(1-float64(now.Sub(r.At))/float64(span))
		y := float64(chartTop) + plotH*(1-v*8/top)
		return fmt.Sprintf("%.1f,%.1f", math.Max(float64(chartLeft), x), y)
	}
	// The first point is the start of the first interval.
	rates = append([]Rate{{At: rates[0].From, Rx: rates[0].Rx, Tx: rates[0].Tx}}, rates...)
	for _, line := range []struct {
		class, color string
		v            func(Rate) float64
	}{{"rx", "#1565c0", func(r Rate) float64 { return r.Rx }}, {"tx", "#e65100", func(r Rate) float64 { return r.Tx }}} {
		pts := make([]string, len(rates))
		for i, r := range rates {
			pts[i] = point(r, line.v(r))
		}
		fmt.Fprintf(&b, `<polyline class="%s" fill="none" stroke="%s" stroke-width="2" points="%s"/>`, line.class, line.color, strings.Join(pts, " "))
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// niceCeil rounds a positive value up to 1, 2 or 5 times a power of ten
// (1 for zero), for the axis top.
func niceCeil(v float64) float64 {
	if v <= 1 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if v <= m*p {
			return m * p
		}
	}
	return 10 * p
}

// fmtBits renders bits per second with an SI prefix.
func fmtBits(v float64) string {
	units := []string{"bit/s", "kbit/s", "Mbit/s", "Gbit/s", "Tbit/s"}
	i := 0
	for v >= 1000 && i < len(units)-1 {
		v /= 1000
		i++
	}
	return fmt.Sprintf("%g %s", math.Round(v*10)/10, units[i])
}

// fmtWindow renders a window such as "60 min" or "40 s".
func fmtWindow(d time.Duration) string {
	if d >= 2*time.Minute {
		return fmt.Sprintf("%d min", int(d.Minutes()))
	}
	return fmt.Sprintf("%d s", int(d.Seconds()))
}
