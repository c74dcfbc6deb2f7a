package report

import (
	"bytes"
	"errors"
	"fmt"
	"image/color"
	"math"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// Figure sizes in pixels (vgimg's 96 dots per inch).
const (
	dpi         = 96
	roiWidthPx  = 1152
	histWidthPx = 576
	figHeightPx = 384
)

// Colours of the figures (the Okabe–Ito palette).
func hemiColor(i int) color.Color {
	return []color.Color{color.RGBA{0, 114, 178, 255}, color.RGBA{213, 94, 0, 255}, color.RGBA{0, 158, 115, 255}}[i%3]
}

// render draws p into a PNG of w×h pixels.
func render(p *plot.Plot, w, h int) ([]byte, error) {
	c := vgimg.NewWith(vgimg.UseWH(vg.Length(w)*vg.Inch/dpi, vg.Length(h)*vg.Inch/dpi), vgimg.UseDPI(dpi))
	p.Draw(draw.New(c))
	var b bytes.Buffer
	if _, err := (vgimg.PngCanvas{Canvas: c}).WriteTo(&b); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// roiFigure draws the per-ROI bars: the mean test r with the measurement and the noise ceiling as a
// marker on simulated data, the mean validation r otherwise.
func roiFigure(m Model, simulated bool) ([]byte, error) {
	p := plot.New()
	p.Title.Text = fmt.Sprintf("%s: mean r per ROI", m.Name)
	p.Y.Label.Text = "mean r"
	var names []string
	var vals, ceil plotter.Values
	for _, r := range m.ROIs {
		names = append(names, r.Hemi+" "+r.Name)
		if simulated {
			vals = append(vals, r.MeasR)
			ceil = append(ceil, r.CeilingR)
		} else {
			vals = append(vals, r.ValR)
		}
	}
	if len(vals) == 0 {
		return nil, errors.New("no ROI to draw")
	}
	// One bar chart per hemisphere colour keeps the colours right with gonum/plot's single-colour bars.
	for hi, hemi := range []string{"lh", "rh"} {
		v := make(plotter.Values, len(vals))
		any := false
		for i, r := range m.ROIs {
			if (r.Hemi == "rh") == (hemi == "rh") {
				v[i], any = vals[i], true
			}
		}
		if !any {
			continue
		}
		bars, err := plotter.NewBarChart(v, vg.Points(math.Max(4, math.Min(24, 600/float64(len(vals))))))
		if err != nil {
			return nil, err
		}
		bars.Color = hemiColor(hi)
		bars.LineStyle.Width = 0
		p.Add(bars)
		p.Legend.Add(hemi, bars)
	}
	if ceil != nil {
		xy := make(plotter.XYs, len(ceil))
		for i := range ceil {
			xy[i].X, xy[i].Y = float64(i), ceil[i]
		}
		sc, err := plotter.NewScatter(xy)
		if err != nil {
			return nil, err
		}
		sc.GlyphStyle.Shape = draw.PyramidGlyph{}
		sc.GlyphStyle.Radius = vg.Points(4)
		sc.GlyphStyle.Color = color.Black
		p.Add(sc)
		p.Legend.Add("noise ceiling", sc)
	}
	p.NominalX(names...)
	p.X.Min, p.X.Max = -0.7, float64(len(names))-0.3
	p.X.Tick.Label.Rotation = math.Pi / 3
	p.X.Tick.Label.XAlign = draw.XRight
	p.X.Tick.Label.YAlign = draw.YCenter
	p.Y.Min = math.Min(0, p.Y.Min)
	p.Y.Max *= 1.15 // room for the legend above the bars
	p.Legend.Top = true
	p.Add(plotter.NewGrid())
	return render(p, roiWidthPx, figHeightPx)
}

// rHistogram draws the histogram of the finite per-vertex validation r.
func rHistogram(m Model) ([]byte, error) {
	var v plotter.Values
	for _, x := range m.ValR {
		if f := float64(x); !math.IsNaN(f) && !math.IsInf(f, 0) {
			v = append(v, f)
		}
	}
	p := plot.New()
	p.Title.Text = fmt.Sprintf("%s: per-vertex validation r", m.Name)
	p.X.Label.Text = "r"
	p.Y.Label.Text = "vertices"
	if len(v) > 0 {
		h, err := plotter.NewHist(v, 40)
		if err != nil {
			return nil, err
		}
		h.FillColor = hemiColor(2)
		h.LineStyle.Width = vg.Points(0.5)
		p.Add(h)
	}
	return render(p, histWidthPx, figHeightPx)
}

// alphaFigure draws the chosen-alpha histogram: vertices per grid alpha, one bar per hemisphere.
func alphaFigure(m Model) ([]byte, error) {
	if len(m.Alphas) == 0 || len(m.AlphaCounts) == 0 {
		return nil, errors.New("no alpha grid")
	}
	p := plot.New()
	p.Title.Text = fmt.Sprintf("%s: chosen alphas", m.Name)
	p.X.Label.Text = "alpha"
	p.Y.Label.Text = "vertices"
	w := vg.Points(8)
	for i, hc := range m.AlphaCounts {
		v := make(plotter.Values, len(hc.Counts))
		for j, c := range hc.Counts {
			v[j] = float64(c)
		}
		bars, err := plotter.NewBarChart(v, w)
		if err != nil {
			return nil, err
		}
		bars.Color = hemiColor(i)
		bars.LineStyle.Width = 0
		bars.Offset = w * vg.Length(2*i-len(m.AlphaCounts)+1) / 2
		p.Add(bars)
		p.Legend.Add(hc.Hemi, bars)
	}
	names := make([]string, len(m.Alphas))
	for i, a := range m.Alphas {
		names[i] = fmt.Sprintf("%.3g", a)
	}
	p.NominalX(names...)
	p.X.Min, p.X.Max = -0.7, float64(len(names))-0.3
	p.X.Tick.Label.Rotation = math.Pi / 4
	p.X.Tick.Label.XAlign = draw.XRight
	p.Y.Max *= 1.15
	p.Legend.Top = true
	return render(p, histWidthPx, figHeightPx)
}

// lossFigure draws the loss curves against the epoch.
func lossFigure(m Model) ([]byte, error) {
	p := plot.New()
	p.Title.Text = fmt.Sprintf("%s: loss", m.Name)
	p.X.Label.Text = "epoch"
	p.Y.Label.Text = "loss"
	// Curves named "<group> <split>" ("lh train", "lh val") share a colour per group; validation
	// curves are dashed.
	groups := map[string]int{}
	for _, c := range m.Loss {
		g := c.Name
		if f := strings.Fields(c.Name); len(f) > 1 {
			g = strings.Join(f[:len(f)-1], " ")
		}
		i, ok := groups[g]
		if !ok {
			i = len(groups)
			groups[g] = i
		}
		xy := make(plotter.XYs, len(c.Values))
		for j, v := range c.Values {
			xy[j].X, xy[j].Y = float64(j+1), v
		}
		line, err := plotter.NewLine(xy)
		if err != nil {
			return nil, err
		}
		line.Color = hemiColor(i)
		line.Width = vg.Points(1.5)
		if f := strings.Fields(c.Name); len(f) > 0 && f[len(f)-1] == "val" {
			line.Dashes = []vg.Length{vg.Points(5), vg.Points(3)}
		}
		p.Add(line)
		p.Legend.Add(c.Name, line)
	}
	p.Legend.Top = true
	p.Add(plotter.NewGrid())
	return render(p, histWidthPx, figHeightPx)
}

// comparisonFigure draws one bar per model: the V1–V3 noise-ceiling fraction on simulated data, the
// mean validation r otherwise.
func comparisonFigure(s *Summary) ([]byte, error) {
	p := plot.New()
	p.Title.Text = "models side by side"
	v := make(plotter.Values, len(s.Models))
	names := make([]string, len(s.Models))
	feats := map[string]bool{}
	for _, m := range s.Models {
		feats[m.Features] = true
	}
	for i, m := range s.Models {
		// Short labels: the subject and kind, and the feature set's first word when there are several.
		names[i] = fmt.Sprintf("subj%02d %s", m.Subject, m.Kind)
		if len(feats) > 1 {
			names[i] += " " + strings.SplitN(m.Features, "-", 2)[0]
		}
		if s.Simulated {
			v[i] = m.EarlyFraction
		} else {
			v[i] = m.ValMeanR
		}
	}
	if s.Simulated {
		p.Y.Label.Text = "V1–V3 fraction of the noise ceiling"
	} else {
		p.Y.Label.Text = "mean validation r"
	}
	bars, err := plotter.NewBarChart(v, vg.Points(math.Max(6, math.Min(40, 300/float64(len(v))))))
	if err != nil {
		return nil, err
	}
	bars.Color = hemiColor(2)
	bars.LineStyle.Width = 0
	p.Add(bars, plotter.NewGrid())
	p.NominalX(names...)
	p.X.Min, p.X.Max = -0.7, float64(len(names))-0.3
	p.X.Tick.Label.Rotation = math.Pi / 6
	p.X.Tick.Label.XAlign = draw.XRight
	p.Y.Min = math.Min(0, p.Y.Min)
	return render(p, histWidthPx, figHeightPx)
}
