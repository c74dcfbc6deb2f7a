package simulate

import (
	"image"
	"image/color"
	"math"
)

// canvas is an opaque RGB drawing surface over an *image.RGBA. Every shape
// is painted without anti-aliasing and fully opaque, so that a scene is a
// deterministic function of its random draws.
type canvas struct {
	img  *image.RGBA
	w, h int
}

func newCanvas(w, h int) *canvas {
	return &canvas{img: image.NewRGBA(image.Rect(0, 0, w, h)), w: w, h: h}
}

// set paints one pixel; coordinates outside the canvas are ignored.
func (c *canvas) set(x, y int, col color.RGBA) {
	if x < 0 || y < 0 || x >= c.w || y >= c.h {
		return
	}
	i := y*c.img.Stride + 4*x
	p := c.img.Pix[i : i+4 : i+4]
	p[0], p[1], p[2], p[3] = col.R, col.G, col.B, 255
}

// span paints the pixels x0..x1-1 of row y, clipped to the canvas.
func (c *canvas) span(y, x0, x1 int, col color.RGBA) {
	if y < 0 || y >= c.h {
		return
	}
	x0 = max(x0, 0)
	x1 = min(x1, c.w)
	row := c.img.Pix[y*c.img.Stride:]
	for x := x0; x < x1; x++ {
		p := row[4*x : 4*x+4 : 4*x+4]
		p[0], p[1], p[2], p[3] = col.R, col.G, col.B, 255
	}
}

// fill paints the whole canvas.
func (c *canvas) fill(col color.RGBA) {
	for y := 0; y < c.h; y++ {
		c.span(y, 0, c.w, col)
	}
}

// rect paints the axis-aligned rectangle [x0,x1)×[y0,y1) (pixel units).
func (c *canvas) rect(x0, y0, x1, y1 float64, col color.RGBA) {
	ya, yb := clampInt(int(math.Round(y0)), 0, c.h), clampInt(int(math.Round(y1)), 0, c.h)
	xa, xb := int(math.Round(x0)), int(math.Round(x1))
	for y := ya; y < yb; y++ {
		c.span(y, xa, xb, col)
	}
}

// ellipse paints a filled ellipse centred at (cx, cy) with semi-axes rx, ry,
// rotated by angle radians.
func (c *canvas) ellipse(cx, cy, rx, ry, angle float64, col color.RGBA) {
	if rx <= 0 || ry <= 0 {
		return
	}
	cs, sn := math.Cos(angle), math.Sin(angle)
	// Half height of the rotated ellipse's bounding box.
	ey := math.Sqrt(rx*rx*sn*sn + ry*ry*cs*cs)
	y0 := clampInt(int(math.Floor(cy-ey)), 0, c.h)
	y1 := clampInt(int(math.Ceil(cy+ey))+1, 0, c.h)
	// For each row solve the quadratic in x for the ellipse boundary.
	a := cs*cs/(rx*rx) + sn*sn/(ry*ry)
	for y := y0; y < y1; y++ {
		dy := float64(y) + 0.5 - cy
		b := 2 * dy * cs * sn * (1/(rx*rx) - 1/(ry*ry))
		cc := dy*dy*(sn*sn/(rx*rx)+cs*cs/(ry*ry)) - 1
		disc := b*b - 4*a*cc
		if disc < 0 {
			continue
		}
		sq := math.Sqrt(disc)
		xa := (-b-sq)/(2*a) + cx
		xb := (-b+sq)/(2*a) + cx
		c.span(y, int(math.Ceil(xa-0.5)), int(math.Floor(xb-0.5))+1, col)
	}
}

// polygon paints a filled polygon (even-odd rule) with vertices in pixel
// units.
func (c *canvas) polygon(pts [][2]float64, col color.RGBA) {
	if len(pts) < 3 {
		return
	}
	ymin, ymax := pts[0][1], pts[0][1]
	for _, p := range pts {
		ymin = math.Min(ymin, p[1])
		ymax = math.Max(ymax, p[1])
	}
	y0 := clampInt(int(math.Floor(ymin)), 0, c.h)
	y1 := clampInt(int(math.Ceil(ymax))+1, 0, c.h)
	xs := make([]float64, 0, 8)
	for y := y0; y < y1; y++ {
		fy := float64(y) + 0.5
		xs = xs[:0]
		for i := range pts {
			p, q := pts[i], pts[(i+1)%len(pts)]
			if (p[1] <= fy) == (q[1] <= fy) {
				continue
			}
			xs = append(xs, p[0]+(fy-p[1])*(q[0]-p[0])/(q[1]-p[1]))
		}
		sortFloats(xs)
		for i := 0; i+1 < len(xs); i += 2 {
			c.span(y, int(math.Ceil(xs[i]-0.5)), int(math.Floor(xs[i+1]-0.5))+1, col)
		}
	}
}

// line paints a thick segment with round caps.
func (c *canvas) line(x0, y0, x1, y1, width float64, col color.RGBA) {
	dx, dy := x1-x0, y1-y0
	l := math.Hypot(dx, dy)
	hw := width / 2
	if l > 0 {
		nx, ny := -dy/l*hw, dx/l*hw
		c.polygon([][2]float64{{x0 + nx, y0 + ny}, {x1 + nx, y1 + ny}, {x1 - nx, y1 - ny}, {x0 - nx, y0 - ny}}, col)
	}
	c.ellipse(x0, y0, hw, hw, 0, col)
	c.ellipse(x1, y1, hw, hw, 0, col)
}

// sortFloats sorts a short slice in place (insertion sort: the slices hold a
// handful of polygon crossings).
func sortFloats(a []float64) {
	for i := 1; i < len(a); i++ {
		for j := i; j > 0 && a[j] < a[j-1]; j-- {
			a[j], a[j-1] = a[j-1], a[j]
		}
	}
}

func clampInt(v, lo, hi int) int {
	return max(lo, min(v, hi))
}

func clamp01(v float64) float64 {
	return math.Max(0, math.Min(1, v))
}

// hsv converts hue (turns), saturation and value in [0,1] to a color.
func hsv(h, s, v float64) color.RGBA {
	h = h - math.Floor(h)
	s, v = clamp01(s), clamp01(v)
	i := int(h * 6)
	f := h*6 - float64(i)
	p, q, t := v*(1-s), v*(1-s*f), v*(1-s*(1-f))
	var r, g, b float64
	switch i % 6 {
	case 0:
		r, g, b = v, t, p
	case 1:
		r, g, b = q, v, p
	case 2:
		r, g, b = p, v, t
	case 3:
		r, g, b = p, q, v
	case 4:
		r, g, b = t, p, v
	default:
		r, g, b = v, p, q
	}
	return color.RGBA{uint8(r*255 + 0.5), uint8(g*255 + 0.5), uint8(b*255 + 0.5), 255}
}

// shade scales a color's brightness by f.
func shade(col color.RGBA, f float64) color.RGBA {
	sc := func(v uint8) uint8 { return uint8(math.Min(255, float64(v)*f) + 0.5) }
	return color.RGBA{sc(col.R), sc(col.G), sc(col.B), 255}
}
