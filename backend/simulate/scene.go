package simulate

import (
	"image"
	"image/color"
	"math"
	"math/rand/v2"
	"strings"

	"golang.org/x/image/font"
	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"
)

// ImageSize is the width and height of every simulated image, as in the
// Algonauts 2023 release (425×425 RGB).
const ImageSize = 425

// Categories are the content categories a simulated scene may contain, in
// the order used by every per-category array of the ground truth.
var categories = [...]string{"face", "body", "place", "word", "object", "texture"}

// Category indices into categories.
const (
	catFace = iota
	catBody
	catPlace
	catWord
	catObject
	catTexture
	numCategories
)

// Categories returns the content category names in ground-truth order.
func Categories() []string { return append([]string(nil), categories[:]...) }

// Item is one thing drawn in a scene. X and Y are the centre as fractions of
// the image width and height (x to the right, y down), Size the extent as a
// fraction of the image width.
type Item struct {
	Kind string  `json:"kind"`
	X    float64 `json:"x"`
	Y    float64 `json:"y"`
	Size float64 `json:"size"`
}

// Labels describes the content of one simulated image.
type Labels struct {
	Split      string `json:"split"` // "train" or "test"
	Index      int    `json:"index"` // 1-based index within the split
	NSDID      int    `json:"nsd_id"`
	Background string `json:"background"`
	// Present lists the categories present, in ground-truth order.
	Present []string `json:"present"`
	Items   []Item   `json:"items"`
	// Signal is the category drive of the generative model, one value per
	// category in ground-truth order (0 when absent; grows with the size
	// and nearness to the centre of the category's items).
	Signal []float64 `json:"signal"`
}

// scene draws one procedural scene on c (ImageSize×ImageSize, or a new
// canvas when c is nil) and returns the image with its labels (Split,
// Index and NSDID are left for the caller).
func scene(c *canvas, r *rand.Rand) (*image.RGBA, Labels) {
	if c == nil {
		c = newCanvas(ImageSize, ImageSize)
	}
	clear(c.img.Pix)
	var lb Labels
	// The main category decides the background and the first item; clutter
	// items of any kind follow.
	main := r.IntN(numCategories)
	switch {
	case main == catPlace || (main != catTexture && r.Float64() < 0.2):
		lb.Background = drawPlace(c, r)
	case main == catTexture || r.Float64() < 0.1:
		lb.Background = "texture-" + drawTexture(c, r, 0, 0, ImageSize, ImageSize)
	default:
		lb.Background = drawPlain(c, r)
	}
	var kinds []int
	if main != catPlace && main != catTexture {
		kinds = append(kinds, main)
	}
	for n := r.IntN(4); n > 0; n-- {
		k := []int{catFace, catBody, catWord, catObject, catObject, catTexture}[r.IntN(6)]
		kinds = append(kinds, k)
	}
	for i, k := range kinds {
		size := 0.12 + 0.45*r.Float64()
		if i > 0 {
			size *= 0.6 // clutter is smaller than the main item
		}
		x := 0.15 + 0.7*r.Float64()
		y := 0.15 + 0.7*r.Float64()
		if i == 0 && r.Float64() < 0.5 {
			// Main items are often near the centre, as in photographs.
			x, y = 0.5+0.15*r.NormFloat64(), 0.5+0.15*r.NormFloat64()
			x, y = math.Max(0.1, math.Min(0.9, x)), math.Max(0.1, math.Min(0.9, y))
		}
		it := Item{Kind: categories[k], X: x, Y: y, Size: size}
		px, py, ps := x*ImageSize, y*ImageSize, size*ImageSize
		switch k {
		case catFace:
			drawFace(c, r, px, py, ps)
		case catBody:
			drawBody(c, r, px, py, ps)
		case catWord:
			it.Size = drawWord(c, r, px, py, ps) / ImageSize
		case catObject:
			drawObject(c, r, px, py, ps)
		case catTexture:
			drawTexture(c, r, px-ps/2, py-ps/2, px+ps/2, py+ps/2)
		}
		lb.Items = append(lb.Items, it)
	}
	lb.Signal = categorySignal(lb)
	for k, s := range lb.Signal {
		if s > 0 {
			lb.Present = append(lb.Present, categories[k])
		}
	}
	return c.img, lb
}

// categorySignal is the generative model's category drive: for each item
// (0.5 + 0.5·√(size/0.4)) · (1 − 0.6·distance from the image centre), summed
// per category and capped at 1.5; a place background adds 1, a texture
// background 0.8 to texture.
func categorySignal(lb Labels) []float64 {
	s := make([]float64, numCategories)
	for _, it := range lb.Items {
		k := categoryIndex(it.Kind)
		d := math.Hypot(it.X-0.5, it.Y-0.5)
		s[k] += (0.5 + 0.5*math.Sqrt(it.Size/0.4)) * (1 - 0.6*d)
	}
	switch {
	case strings.HasPrefix(lb.Background, "place-"):
		s[catPlace] += 1
	case strings.HasPrefix(lb.Background, "texture-"):
		s[catTexture] += 0.8
	}
	for k := range s {
		s[k] = math.Min(s[k], 1.5)
	}
	return s
}

func categoryIndex(name string) int {
	for i, c := range categories {
		if c == name {
			return i
		}
	}
	return -1
}

func randColor(r *rand.Rand) color.RGBA {
	return hsv(r.Float64(), 0.2+0.7*r.Float64(), 0.25+0.7*r.Float64())
}

func drawPlain(c *canvas, r *rand.Rand) string {
	a, b := randColor(r), randColor(r)
	if r.Float64() < 0.4 {
		c.fill(a)
		return "plain"
	}
	// Vertical gradient from a to b.
	for y := 0; y < c.h; y++ {
		t := float64(y) / float64(c.h-1)
		col := color.RGBA{lerp8(a.R, b.R, t), lerp8(a.G, b.G, t), lerp8(a.B, b.B, t), 255}
		c.span(y, 0, c.w, col)
	}
	return "gradient"
}

func lerp8(a, b uint8, t float64) uint8 {
	return uint8(float64(a)*(1-t) + float64(b)*t + 0.5)
}

// drawPlace paints a room, a street of buildings or a landscape and returns
// the background name.
func drawPlace(c *canvas, r *rand.Rand) string {
	W := float64(c.w)
	switch r.IntN(3) {
	case 0: // room in one-point perspective
		vx, vy := W*(0.35+0.3*r.Float64()), W*(0.35+0.3*r.Float64())
		d := 0.25 + 0.2*r.Float64() // back wall half-size relative to the image
		bx0, by0, bx1, by1 := vx-d*W, vy-d*W*0.8, vx+d*W, vy+d*W*0.8
		wall := hsv(r.Float64(), 0.15+0.3*r.Float64(), 0.6+0.3*r.Float64())
		c.fill(shade(wall, 0.8))
		c.polygon([][2]float64{{0, W}, {W, W}, {bx1, by1}, {bx0, by1}}, hsv(r.Float64(), 0.4, 0.35+0.3*r.Float64()))
		c.polygon([][2]float64{{0, 0}, {W, 0}, {bx1, by0}, {bx0, by0}}, shade(wall, 1.1))
		c.polygon([][2]float64{{0, 0}, {bx0, by0}, {bx0, by1}, {0, W}}, shade(wall, 0.7))
		c.rect(bx0, by0, bx1, by1, wall)
		// A window or door on the back wall, floor boards along the
		// perspective lines.
		ww := (bx1 - bx0) * (0.2 + 0.3*r.Float64())
		wx := bx0 + (bx1-bx0-ww)*r.Float64()
		c.rect(wx, by0+(by1-by0)*0.2, wx+ww, by1-(by1-by0)*0.1*r.Float64(), hsv(0.58, 0.4, 0.9))
		for i := 0; i <= 6; i++ {
			x := W * float64(i) / 6
			c.line(x, W, bx0+(bx1-bx0)*float64(i)/6, by1, 2, shade(wall, 0.5))
		}
		return "place-room"
	case 1: // street with buildings
		hy := W * (0.45 + 0.2*r.Float64())
		c.rect(0, 0, W, hy, hsv(0.58, 0.3+0.3*r.Float64(), 0.75+0.2*r.Float64()))
		c.rect(0, hy, W, W, hsv(0, 0, 0.3+0.2*r.Float64()))
		x := -W * 0.1 * r.Float64()
		for x < W {
			bw := W * (0.12 + 0.2*r.Float64())
			bh := W * (0.15 + 0.35*r.Float64())
			col := hsv(r.Float64(), 0.1+0.4*r.Float64(), 0.35+0.5*r.Float64())
			c.rect(x, hy-bh, x+bw, hy, col)
			win := shade(col, 0.45)
			for wy := hy - bh + 8; wy < hy-16; wy += 18 {
				for wx := x + 6; wx < x+bw-10; wx += 14 {
					c.rect(wx, wy, wx+8, wy+10, win)
				}
			}
			x += bw + W*0.02*r.Float64()
		}
		vx := W * (0.3 + 0.4*r.Float64())
		c.polygon([][2]float64{{vx - 4, hy}, {vx + 4, hy}, {W * 0.9, W}, {W * 0.1, W}}, hsv(0, 0, 0.2))
		c.line(vx, hy, vx, W, 3, color.RGBA{230, 230, 230, 255})
		return "place-street"
	default: // landscape with horizon and hills
		hy := W * (0.35 + 0.3*r.Float64())
		c.rect(0, 0, W, hy, hsv(0.55+0.1*r.Float64(), 0.3+0.4*r.Float64(), 0.8+0.2*r.Float64()))
		c.rect(0, hy, W, W, hsv(0.2+0.15*r.Float64(), 0.4+0.4*r.Float64(), 0.3+0.4*r.Float64()))
		pts := [][2]float64{{0, hy}}
		for i := 0; i <= 8; i++ {
			pts = append(pts, [2]float64{W * float64(i) / 8, hy - W*0.15*r.Float64()})
		}
		pts = append(pts, [2]float64{W, hy})
		c.polygon(pts, hsv(0.3+0.1*r.Float64(), 0.3, 0.25+0.2*r.Float64()))
		return "place-landscape"
	}
}

// drawTexture fills the rectangle with a grating, a checkerboard or blocky
// noise and returns the texture's name.
func drawTexture(c *canvas, r *rand.Rand, x0, y0, x1, y1 float64) string {
	xa, xb := clampInt(int(x0), 0, c.w), clampInt(int(x1), 0, c.w)
	ya, yb := clampInt(int(y0), 0, c.h), clampInt(int(y1), 0, c.h)
	a, b := randColor(r), randColor(r)
	switch r.IntN(3) {
	case 0:
		th := math.Pi * r.Float64()
		f := 2 * math.Pi / (6 + 40*r.Float64()) // cycles per pixel
		fx, fy := f*math.Cos(th), f*math.Sin(th)
		for y := ya; y < yb; y++ {
			for x := xa; x < xb; x++ {
				t := 0.5 + 0.5*math.Sin(fx*float64(x)+fy*float64(y))
				c.set(x, y, color.RGBA{lerp8(a.R, b.R, t), lerp8(a.G, b.G, t), lerp8(a.B, b.B, t), 255})
			}
		}
		return "grating"
	case 1:
		s := 6 + r.IntN(30)
		for y := ya; y < yb; y++ {
			for x := xa; x < xb; x++ {
				if (x/s+y/s)%2 == 0 {
					c.set(x, y, a)
				} else {
					c.set(x, y, b)
				}
			}
		}
		return "checker"
	default:
		s := 4 + r.IntN(16)
		for by := ya; by < yb; by += s {
			for bx := xa; bx < xb; bx += s {
				t := r.Float64()
				col := color.RGBA{lerp8(a.R, b.R, t), lerp8(a.G, b.G, t), lerp8(a.B, b.B, t), 255}
				for y := by; y < min(by+s, yb); y++ {
					c.span(y, bx, min(bx+s, xb), col)
				}
			}
		}
		return "noise"
	}
}

// drawFace paints a frontal face: hair, head, eyes, brows, nose and mouth.
func drawFace(c *canvas, r *rand.Rand, cx, cy, size float64) {
	ry := size / 2
	rx := ry * (0.72 + 0.1*r.Float64())
	tilt := 0.25 * r.NormFloat64()
	skin := hsv(0.05+0.04*r.Float64(), 0.3+0.4*r.Float64(), 0.35+0.6*r.Float64())
	hair := hsv(0.08*r.Float64(), 0.5*r.Float64(), 0.1+0.5*r.Float64())
	sn, cs := math.Sin(tilt), math.Cos(tilt)
	at := func(u, v float64) (float64, float64) { // face coordinates → pixels
		return cx + u*cs - v*sn, cy + u*sn + v*cs
	}
	hx, hy := at(0, -ry*0.15)
	c.ellipse(hx, hy, rx*1.08, ry*0.95, tilt, hair)
	c.ellipse(cx, cy, rx, ry, tilt, skin)
	for _, s := range []float64{-1, 1} {
		ex, ey := at(s*rx*0.4, -ry*0.15)
		c.ellipse(ex, ey, rx*0.2, ry*0.09, tilt, color.RGBA{245, 245, 245, 255})
		c.ellipse(ex, ey, rx*0.09, rx*0.09, 0, hsv(r.Float64(), 0.5, 0.25))
		bx0, by0 := at(s*rx*0.2, -ry*0.32)
		bx1, by1 := at(s*rx*0.6, -ry*0.35)
		c.line(bx0, by0, bx1, by1, math.Max(1, ry*0.05), hair)
	}
	nx0, ny0 := at(0, -ry*0.05)
	nx1, ny1 := at(0, ry*0.2)
	c.line(nx0, ny0, nx1, ny1, math.Max(1, ry*0.05), shade(skin, 0.7))
	mx, my := at(0, ry*0.48)
	c.ellipse(mx, my, rx*0.35, ry*(0.04+0.08*r.Float64()), tilt, hsv(0.98, 0.6, 0.55))
}

// drawBody paints a standing figure: blob torso, small head and thick limbs.
func drawBody(c *canvas, r *rand.Rand, cx, cy, size float64) {
	h := size * 1.3 // a figure is taller than the face-sized items
	cloth := randColor(r)
	skin := hsv(0.05+0.04*r.Float64(), 0.3+0.4*r.Float64(), 0.35+0.6*r.Float64())
	limb := math.Max(2, h*0.07)
	top := cy - h/2
	hipY := top + h*0.55
	shY := top + h*0.22
	// legs
	spread := h * (0.05 + 0.15*r.Float64())
	c.line(cx-limb/2, hipY, cx-spread, cy+h/2, limb, shade(cloth, 0.6))
	c.line(cx+limb/2, hipY, cx+spread, cy+h/2, limb, shade(cloth, 0.6))
	// arms: θ from hanging down (0) to raised (2.6 rad)
	for _, s := range []float64{-1, 1} {
		th := 0.2 + 2.4*r.Float64()
		l := h * 0.32
		x0 := cx + s*h*0.1
		c.line(x0, shY, x0+s*l*math.Sin(th), shY+l*math.Cos(th), limb*0.8, skin)
	}
	c.ellipse(cx, (shY+hipY)/2, h*0.12, (hipY-shY)/2+limb/2, 0, cloth)
	c.ellipse(cx, top+h*0.1, h*0.075, h*0.09, 0, skin)
}

// syllables make word-like letter strings.
var syllables = []string{"ka", "ro", "mi", "ten", "sa", "lo", "ver", "an", "de", "tu", "bel", "or", "ni", "ste", "ma", "cor", "ex", "pa", "gi", "un"}

// drawWord paints a short word (optionally on a sign) centred at (cx, cy),
// letters about size/4 high, and returns its width in pixels.
func drawWord(c *canvas, r *rand.Rand, cx, cy, size float64) float64 {
	var sb strings.Builder
	for n := 1 + r.IntN(3); n > 0; n-- {
		sb.WriteString(syllables[r.IntN(len(syllables))])
	}
	word := sb.String()
	if r.Float64() < 0.4 {
		word = strings.ToUpper(word)
	}
	face := basicfont.Face7x13
	adv := 7
	mask := image.NewAlpha(image.Rect(0, 0, adv*len(word), 13))
	d := font.Drawer{Dst: mask, Src: image.Opaque, Face: face, Dot: fixed.P(0, 11)}
	d.DrawString(word)
	scale := math.Max(1, math.Round(size/4/13*1.6))
	w, h := float64(mask.Rect.Dx())*scale, float64(mask.Rect.Dy())*scale
	ink := hsv(r.Float64(), 0.6*r.Float64(), 0.1+0.3*r.Float64())
	if r.Float64() < 0.6 {
		c.rect(cx-w/2-scale*3, cy-h/2-scale*2, cx+w/2+scale*3, cy+h/2+scale*2, hsv(r.Float64(), 0.2*r.Float64(), 0.8+0.2*r.Float64()))
	} else {
		ink = hsv(r.Float64(), 0.2*r.Float64(), 0.05+0.9*float64(r.IntN(2)))
	}
	x0, y0 := int(cx-w/2), int(cy-h/2)
	s := int(scale)
	for my := 0; my < mask.Rect.Dy(); my++ {
		for mx := 0; mx < mask.Rect.Dx(); mx++ {
			if mask.AlphaAt(mx, my).A < 128 {
				continue
			}
			for yy := 0; yy < s; yy++ {
				c.span(y0+my*s+yy, x0+mx*s, x0+mx*s+s, ink)
			}
		}
	}
	return w
}

// drawObject paints a simple shaded shape: ball, box, cup, triangle or star.
func drawObject(c *canvas, r *rand.Rand, cx, cy, size float64) {
	col := randColor(r)
	h := size / 2
	switch r.IntN(5) {
	case 0: // ball with highlight
		c.ellipse(cx, cy, h, h, 0, col)
		c.ellipse(cx-h*0.3, cy-h*0.3, h*0.3, h*0.25, 0, shade(col, 1.5))
	case 1: // box with a lit top and a shaded side
		c.rect(cx-h, cy-h*0.6, cx+h*0.6, cy+h, col)
		c.polygon([][2]float64{{cx - h, cy - h*0.6}, {cx - h*0.6, cy - h}, {cx + h, cy - h}, {cx + h*0.6, cy - h*0.6}}, shade(col, 1.3))
		c.polygon([][2]float64{{cx + h*0.6, cy - h*0.6}, {cx + h, cy - h}, {cx + h, cy + h*0.6}, {cx + h*0.6, cy + h}}, shade(col, 0.6))
	case 2: // cup with handle
		c.ellipse(cx+h*0.55, cy, h*0.35, h*0.4, 0, shade(col, 0.7))
		c.rect(cx-h*0.7, cy-h*0.8, cx+h*0.6, cy+h*0.8, col)
		c.ellipse(cx-0.05*h, cy-h*0.8, h*0.65, h*0.12, 0, shade(col, 0.5))
	case 3:
		c.polygon([][2]float64{{cx, cy - h}, {cx + h, cy + h*0.8}, {cx - h, cy + h*0.8}}, col)
	default:
		pts := make([][2]float64, 10)
		for i := range pts {
			rad := h
			if i%2 == 1 {
				rad = h * 0.45
			}
			a := float64(i)*math.Pi/5 - math.Pi/2
			pts[i] = [2]float64{cx + rad*math.Cos(a), cy + rad*math.Sin(a)}
		}
		// The star's outline is not convex; paint it as a fan of triangles
		// so that the even-odd rule leaves no holes.
		for i := range pts {
			c.polygon([][2]float64{{cx, cy}, pts[i], pts[(i+1)%len(pts)]}, col)
		}
	}
}
