package web

import (
	"strconv"
	"strings"

	"github.com/phieu/phieu/store"
	"github.com/phieu/phieu/templates"
)

// Charts are inline SVG built from numbers: the templates put only these
// computed coordinates into attributes, and labels go into text nodes
// that html/template escapes. No script, no external image.

// rate is how many of a set of members answered. As in the digests,
// answers under review count as answers: the member did reply.
type rate struct {
	Total    int
	Answered int
	Pct      string  // "85,3%"
	Fraction float64 // 0..1, for <meter>
}

func newRate(c store.StatusCounts) rate {
	r := rate{Total: c.Total(), Answered: c[store.StatusAnswered] + c[store.StatusAnsweredNeedsReview]}
	r.Pct = templates.Percent(r.Answered, r.Total)
	if r.Total > 0 {
		r.Fraction = float64(r.Answered) / float64(r.Total)
	}
	return r
}

// barChart is response rates side by side, one horizontal bar a row.
type barChart struct {
	Width, Height int
	LabelWidth    int // where bars start
	BarMax        int // the width of 100%
	Bars          []chartBar
	Omitted       int // units left out beyond maxChartBars
}

type chartBar struct {
	Label       string
	Y, TextY    float64
	Width       float64
	Rate        rate
	BarHeight   float64
	LabelRightX int
}

const (
	barRowHeight = 28
	barHeight    = 18
)

// newBarChart draws rows of label and rate.
func newBarChart(labels []string, rates []rate) *barChart {
	c := &barChart{Width: 760, LabelWidth: 270, BarMax: 340}
	for i, l := range labels {
		y := float64(i*barRowHeight + 6)
		c.Bars = append(c.Bars, chartBar{
			Label: shorten(l, 38), Y: y, TextY: y + barHeight - 4, BarHeight: barHeight,
			Width: rates[i].Fraction * float64(c.BarMax), Rate: rates[i], LabelRightX: c.LabelWidth - 8,
		})
	}
	c.Height = len(labels)*barRowHeight + 12
	return c
}

// maxChartBars bounds the unit chart; the unit page lists every unit.
const maxChartBars = 40

// unitChart charts the top of the unit tree: the shallowest level (down to
// depth 2) with at least three units that have members, so that a
// province's People's Committee and Council above their departments and
// communes chart the departments and communes. Units stay in tree order.
func unitChart(units []store.UnitStats) *barChart {
	var top []store.UnitStats
	for depth := 0; depth <= 2 && len(top) < 3; depth++ {
		top = top[:0]
		for _, u := range units {
			if u.Depth == depth && u.Subtree.Total() > 0 {
				top = append(top, u)
			}
		}
	}
	if len(top) == 0 {
		return nil
	}
	var labels []string
	var rates []rate
	for _, u := range top[:min(len(top), maxChartBars)] {
		labels = append(labels, u.UnitName)
		rates = append(rates, newRate(u.Subtree))
	}
	c := newBarChart(labels, rates)
	c.Omitted = len(top) - len(labels)
	return c
}

// trendChart is answers day by day (bars, left scale) and the share of
// members answered so far (a line, 0–100%).
type trendChart struct {
	Width, Height int
	Left, Right   float64 // the plot's x range
	Top, Bottom   float64 // the plot's y range
	LeftLabelX    float64 // where the scales' and the dates' labels go
	RightLabelX   float64
	TopLabelY     float64
	TickY         float64
	MaxDaily      int
	Bars          []trendBar
	Line          string // polyline points: numbers only
	Labels        []axisLabel
	Days          []trendDay // the same numbers as a table
}

type trendBar struct {
	X, Y, W, H float64
	Title      string
}

type axisLabel struct {
	X    float64
	Text string
}

type trendDay struct {
	Day        string
	Answered   int
	Cumulative int
	Pct        string
}

// newTrendChart draws days against total members.
func newTrendChart(days []store.DayCount, total int) *trendChart {
	if len(days) == 0 {
		return nil
	}
	c := &trendChart{Width: 760, Height: 230, Left: 44, Right: 712, Top: 12, Bottom: 200}
	c.LeftLabelX, c.RightLabelX, c.TopLabelY, c.TickY = c.Left-6, c.Right+6, c.Top+4, c.Bottom+18
	for _, d := range days {
		c.MaxDaily = max(c.MaxDaily, d.Answered)
	}
	scale := max(c.MaxDaily, 1)
	plotH := c.Bottom - c.Top
	step := (c.Right - c.Left) / float64(len(days))
	every := max(1, (len(days)+9)/10) // at most about ten date labels
	var points []string
	for i, d := range days {
		x := c.Left + float64(i)*step
		h := float64(d.Answered) / float64(scale) * plotH
		day := d.Day.Format("02/01")
		c.Bars = append(c.Bars, trendBar{X: x + step*0.15, Y: c.Bottom - h, W: step * 0.7, H: h,
			Title: day + ": " + strconv.Itoa(d.Answered) + " phiếu"})
		cum := 0.0
		if total > 0 {
			cum = float64(d.Cumulative) / float64(total)
		}
		points = append(points, strconv.FormatFloat(x+step/2, 'f', 1, 64)+","+strconv.FormatFloat(c.Bottom-cum*plotH, 'f', 1, 64))
		// Every few days, and the last day unless it would crowd the one before.
		if i%every == 0 || i == len(days)-1 && i%every > every/2 {
			c.Labels = append(c.Labels, axisLabel{X: x + step/2, Text: day})
		}
		c.Days = append(c.Days, trendDay{Day: d.Day.Format("02/01/2006"), Answered: d.Answered, Cumulative: d.Cumulative,
			Pct: templates.Percent(d.Cumulative, total)})
	}
	c.Line = strings.Join(points, " ")
	return c
}
