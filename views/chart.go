package views

import (
	"fmt"
	"strconv"

	"hostelhub/store"
)

// trendChart lays out the created-vs-resolved bar chart in SVG user units.
type trendChart struct {
	Bars  []chartBar
	Ticks []chartTick
	max   int
	days  []store.DayFigures
}

type chartBar struct {
	X, X2, W, LabelX     string
	CreatedY, CreatedH   string
	ResolvedY, ResolvedH string
	Created, Resolved    int
	Label                string
	Tick                 bool
	Anchor               string // of the day's label: the last one ends at the edge
}

type chartTick struct{ Y, Label string }

const (
	chartW, chartH        = 640.0, 220.0
	chartLeft, chartRight = 36.0, 8.0
	chartTop, chartBottom = 10.0, 24.0
	chartPlotH            = chartH - chartTop - chartBottom
)

func num(f float64) string { return strconv.FormatFloat(f, 'f', 1, 64) }

func newChart(days []store.DayFigures) trendChart {
	c := trendChart{days: days}
	for _, d := range days {
		c.max = max(c.max, d.Created, d.Resolved)
	}
	top := niceCeil(c.max)
	y := func(n int) float64 { return chartTop + chartPlotH - chartPlotH*float64(n)/float64(top) }
	for _, v := range []int{0, top / 2, top} {
		c.Ticks = append(c.Ticks, chartTick{Y: num(y(v)), Label: strconv.Itoa(v)})
	}
	if len(days) == 0 {
		return c
	}
	slot := (chartW - chartLeft - chartRight) / float64(len(days))
	w := slot * 0.38
	for i, d := range days {
		x := chartLeft + slot*float64(i) + slot*0.1
		c.Bars = append(c.Bars, chartBar{
			X: num(x), X2: num(x + w), W: num(w), LabelX: num(x + w),
			CreatedY: num(y(d.Created)), CreatedH: num(y(0) - y(d.Created)),
			ResolvedY: num(y(d.Resolved)), ResolvedH: num(y(0) - y(d.Resolved)),
			Created: d.Created, Resolved: d.Resolved,
			Label:  d.Day.Format("2 Jan"),
			Tick:   (len(days)-1-i)%7 == 0,
			Anchor: "middle",
		})
	}
	c.Bars[len(c.Bars)-1].Anchor = "end"
	return c
}

// niceCeil rounds n up to a round axis maximum (at least 2, even).
func niceCeil(n int) int {
	for _, step := range []int{2, 4, 10, 20, 40, 100, 200, 400, 1000, 2000, 4000, 10000} {
		if n <= step {
			return step
		}
	}
	return (n/10000 + 1) * 10000
}

func (c trendChart) ViewBox() string     { return fmt.Sprintf("0 0 %g %g", chartW, chartH) }
func (c trendChart) Left() string        { return num(chartLeft) }
func (c trendChart) Right() string       { return num(chartW - chartRight) }
func (c trendChart) LeftLabel() string   { return num(chartLeft - 6) }
func (c trendChart) BottomLabel() string { return num(chartH - 6) }

// Summary says what the chart shows, for screen readers.
func (c trendChart) Summary() string {
	var created, resolved int
	for _, d := range c.days {
		created += d.Created
		resolved += d.Resolved
	}
	return fmt.Sprintf("%d issues reported and %d resolved over %d days; the busiest day had %d.", created, resolved, len(c.days), c.max)
}
