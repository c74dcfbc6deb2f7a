package features

import (
	"context"
	"errors"
	"fmt"
	"image"
	"image/color"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

// grating returns an n×n 16-bit gray sine grating of f cycles per image,
// amplitude a around 0.5, whose luminance varies along the direction at
// angle theta counter-clockwise on screen (x right, y down).
func grating(n int, f, theta, a float64) image.Image {
	m := image.NewGray16(image.Rect(0, 0, n, n))
	for y := 0; y < n; y++ {
		for x := 0; x < n; x++ {
			v := 0.5 + a*math.Cos(2*math.Pi*f*(float64(x)*math.Cos(theta)-float64(y)*math.Sin(theta))/float64(n))
			m.SetGray16(x, y, color.Gray16{uint16(math.Round(v * 0xffff))})
		}
	}
	return m
}

// natural returns a deterministic n×n colour image of random blurred blobs
// and edges, a stand-in for a photograph.
func natural(n int, seed uint64) *image.NRGBA {
	r := rand.New(rand.NewPCG(seed, 7))
	m := image.NewNRGBA(image.Rect(0, 0, n, n))
	type blob struct{ x, y, rad, c0, c1, c2 float64 }
	var bs []blob
	for range 12 {
		bs = append(bs, blob{r.Float64() * float64(n), r.Float64() * float64(n), (0.05 + 0.3*r.Float64()) * float64(n), r.Float64(), r.Float64(), r.Float64()})
	}
	for y := 0; y < n; y++ {
		for x := 0; x < n; x++ {
			c := [3]float64{0.4, 0.45, 0.5}
			for _, b := range bs {
				if d := math.Hypot(float64(x)-b.x, float64(y)-b.y); d < b.rad {
					c = [3]float64{b.c0, b.c1, b.c2}
				}
			}
			var px [3]uint8
			for i := range px {
				px[i] = uint8(math.Round(255 * min(1, max(0, c[i]+0.05*r.NormFloat64()))))
			}
			m.SetNRGBA(x, y, color.NRGBA{px[0], px[1], px[2], 255})
		}
	}
	return m
}

func mustGabor(t testing.TB, cfg GaborConfig) *Gabor {
	t.Helper()
	g, err := NewGabor(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// centreMean averages channel 0 energy of (s, o) over the central half of
// the grid.
func centreMean(g *Gabor, feat []float32, ch, s, o int) float64 {
	grid := g.cfg.Grid
	if ch > 0 {
		grid = g.cfg.ColorGrid
	}
	var sum float64
	var n int
	for r := grid / 4; r < grid-grid/4; r++ {
		for c := grid / 4; c < grid-grid/4; c++ {
			sum += float64(feat[g.FeatureIndex(ch, s, o, r, c)])
			n++
		}
	}
	return sum / float64(n)
}

// TestGratingTuning checks that a grating drives the channel of its
// frequency and orientation most, and that the filters are normalised so
// that the energy equals the grating's amplitude.
func TestGratingTuning(t *testing.T) {
	cfg := DefaultGaborConfig()
	cfg.Compress = "none"
	g := mustGabor(t, cfg)
	const amp = 0.3
	type tc struct{ s, o int }
	var cases []tc
	for o := 0; o < cfg.Orientations; o++ {
		cases = append(cases, tc{1, o}, tc{3, o})
	}
	for s := 0; s < cfg.Scales; s++ {
		cases = append(cases, tc{s, 3})
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("s%d_o%d", c.s, c.o), func(t *testing.T) {
			f := cfg.MinFrequency * math.Exp2(float64(c.s))
			theta := math.Pi * float64(c.o) / float64(cfg.Orientations)
			feat, err := g.Extract(context.Background(), []image.Image{grating(cfg.Size, f, theta, amp)})
			if err != nil {
				t.Fatal(err)
			}
			best, bs, bo := -1.0, -1, -1
			for s := 0; s < cfg.Scales; s++ {
				for o := 0; o < cfg.Orientations; o++ {
					if e := centreMean(g, feat, 0, s, o); e > best {
						best, bs, bo = e, s, o
					}
				}
			}
			if bs != c.s || bo != c.o {
				t.Errorf("strongest channel is scale %d orientation %d (%.4f), want %d/%d (%.4f)",
					bs, bo, best, c.s, c.o, centreMean(g, feat, 0, c.s, c.o))
			}
			if e := centreMean(g, feat, 0, c.s, c.o); math.Abs(e-amp) > 0.03*amp {
				t.Errorf("energy %.4f, want the amplitude %.2f within 3%%", e, amp)
			}
			// The orthogonal orientation at the same scale responds weakly.
			orth := (c.o + cfg.Orientations/2) % cfg.Orientations
			if e := centreMean(g, feat, 0, c.s, orth); e > 0.02*amp {
				t.Errorf("orthogonal orientation energy %.4f, want < %.4f", e, 0.02*amp)
			}
		})
	}
}

// TestGratingResized checks tuning through the resize path: a 425×425
// grating of 8 cycles per image at 45° drives scale 1, orientation 2.
func TestGratingResized(t *testing.T) {
	g := mustGabor(t, DefaultGaborConfig())
	feat, err := g.Extract(context.Background(), []image.Image{grating(425, 8, math.Pi/4, 0.4)})
	if err != nil {
		t.Fatal(err)
	}
	// sqrt compression: energy √0.4 (less the resize's slight attenuation).
	if e := centreMean(g, feat, 0, 1, 2); math.Abs(e-math.Sqrt(0.4)) > 0.03 {
		t.Errorf("energy %.4f, want %.4f", e, math.Sqrt(0.4))
	}
	for o := 0; o < 8; o++ {
		if o != 2 && centreMean(g, feat, 0, 1, o) >= centreMean(g, feat, 0, 1, 2) {
			t.Errorf("orientation %d responds as much as the grating's", o)
		}
	}
}

// TestColorOpponent checks an isoluminant red/green grating: no luminance
// energy, and opponent energies equal to the channels' closed-form amplitudes.
func TestColorOpponent(t *testing.T) {
	cfg := DefaultGaborConfig()
	cfg.Compress = "none"
	g := mustGabor(t, cfg)
	const n, f, a = 128, 4.0, 0.3
	k := 0.299 / 0.587 // G moves against R so that luminance stays constant
	m := image.NewRGBA64(image.Rect(0, 0, n, n))
	for y := 0; y < n; y++ {
		for x := 0; x < n; x++ {
			c := math.Cos(2 * math.Pi * f * float64(x) / n)
			r, gr := 0.5+a*c, 0.5-a*k*c
			m.SetRGBA64(x, y, color.RGBA64{uint16(math.Round(r * 0xffff)), uint16(math.Round(gr * 0xffff)), 0x8000, 0xffff})
		}
	}
	feat, err := g.Extract(context.Background(), []image.Image{m})
	if err != nil {
		t.Fatal(err)
	}
	// Half-resolution box filter gain at f cycles per 128 pixels: cos(π f / 128).
	box := math.Cos(math.Pi * f / n)
	for _, c := range []struct {
		name string
		ch   int
		want float64
	}{
		{"luminance", 0, 0},
		{"red-green", 1, a * (1 + k) * box},
		{"blue-yellow", 2, a * (1 - k) / 2 * box},
	} {
		if e := centreMean(g, feat, c.ch, 0, 0); math.Abs(e-c.want) > 0.03*a {
			t.Errorf("%s energy %.4f, want %.4f", c.name, e, c.want)
		}
	}
}

func TestBlankImages(t *testing.T) {
	g := mustGabor(t, DefaultGaborConfig())
	var imgs []image.Image
	for _, c := range []color.Color{color.Black, color.White, color.RGBA{200, 30, 40, 255}} {
		m := image.NewRGBA(image.Rect(0, 0, 300, 200))
		for i := 0; i < len(m.Pix); i += 4 {
			r, gr, b, a := c.RGBA()
			m.Pix[i], m.Pix[i+1], m.Pix[i+2], m.Pix[i+3] = uint8(r>>8), uint8(gr>>8), uint8(b>>8), uint8(a>>8)
		}
		imgs = append(imgs, m)
	}
	feat, err := g.Extract(context.Background(), imgs)
	if err != nil {
		t.Fatal(err)
	}
	// Resizing leaves float32 rounding (1e-7) in a uniform image; after the
	// square root that is at most 1e-3, against 0.1..0.6 for real images.
	for i, v := range feat {
		if v > 1e-3 || v < 0 {
			t.Fatalf("image %d feature %d = %g, want ≈ 0", i/g.Dim(), i%g.Dim(), v)
		}
	}
}

func TestDeterministicAndOrdered(t *testing.T) {
	g := mustGabor(t, DefaultGaborConfig())
	if g.ID() != "gabor-v1-n128-s4f4o8b1g8-c2g4-sqrt" || g.Dim() != 2560 {
		t.Errorf("ID %q Dim %d", g.ID(), g.Dim())
	}
	var imgs []image.Image
	for i := range 7 {
		imgs = append(imgs, natural(150+10*i, uint64(i)))
	}
	a, err := g.Extract(context.Background(), imgs)
	if err != nil {
		t.Fatal(err)
	}
	if len(a) != len(imgs)*g.Dim() {
		t.Fatalf("%d values for %d images of %d", len(a), len(imgs), g.Dim())
	}
	b, err := g.Extract(context.Background(), imgs)
	if err != nil {
		t.Fatal(err)
	}
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			t.Fatalf("run 2 differs at %d: %v vs %v", i, a[i], b[i])
		}
	}
	// One image at a time gives the same rows in the same order.
	for i, img := range imgs {
		one, err := g.Extract(context.Background(), []image.Image{img})
		if err != nil {
			t.Fatal(err)
		}
		for j, v := range one {
			if math.Float32bits(v) != math.Float32bits(a[i*g.Dim()+j]) {
				t.Fatalf("image %d alone differs from the batch at %d", i, j)
			}
		}
	}
	// Natural images give finite, non-negative, non-trivial features.
	var nonzero int
	for _, v := range a {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) || v < 0 {
			t.Fatalf("bad feature value %v", v)
		}
		if v > 1e-3 {
			nonzero++
		}
	}
	if nonzero < len(a)/2 {
		t.Errorf("only %d of %d features are above 1e-3", nonzero, len(a))
	}
}

// cancelOnBounds cancels a context the first time its bounds are read.
type cancelOnBounds struct {
	image.Image
	cancel context.CancelFunc
}

func (c cancelOnBounds) Bounds() image.Rectangle {
	c.cancel()
	return c.Image.Bounds()
}

func TestCancellation(t *testing.T) {
	g := mustGabor(t, DefaultGaborConfig())
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := g.Extract(ctx, []image.Image{natural(64, 1)}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled before: err = %v", err)
	}
	ctx, cancel = context.WithCancel(context.Background())
	defer cancel()
	imgs := make([]image.Image, 64)
	for i := range imgs {
		imgs[i] = natural(64, 2)
	}
	imgs[2] = cancelOnBounds{natural(64, 3), cancel}
	if _, err := g.Extract(ctx, imgs); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled during: err = %v", err)
	}
}

func TestBadImages(t *testing.T) {
	g := mustGabor(t, DefaultGaborConfig())
	for _, tc := range []struct {
		name string
		img  image.Image
		want string
	}{
		{"empty", image.NewRGBA(image.Rect(0, 0, 0, 5)), "image 1: image (0,0)-(0,5) has no pixels"},
		{"nil", nil, "image 1: image is nil"},
	} {
		_, err := g.Extract(context.Background(), []image.Image{natural(40, 1), tc.img})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want %q", tc.name, err, tc.want)
		}
	}
	// A 1×1 image is valid: it is uniform, so every energy is zero.
	one := image.NewGray(image.Rect(0, 0, 1, 1))
	feat, err := g.Extract(context.Background(), []image.Image{one})
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range feat {
		if v > 1e-3 {
			t.Fatalf("1x1 image: feature %g", v)
		}
	}
}

func TestConfigValidation(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(*GaborConfig)
		want string
	}{
		{"size", func(c *GaborConfig) { c.Size = 100 }, "Size 100"},
		{"compress", func(c *GaborConfig) { c.Compress = "log" }, `Compress "log"`},
		{"too fine", func(c *GaborConfig) { c.Scales = 5 }, "above the Nyquist limit"},
		{"colour too fine", func(c *GaborConfig) { c.ColorScales = 4 }, "colour scale 3"},
		{"grid", func(c *GaborConfig) { c.Grid = 0 }, "Grid 0"},
		{"grid 5", func(c *GaborConfig) { c.Grid = 5 }, "Grid 5 must be 2^a·3^b"},
		{"orientations", func(c *GaborConfig) { c.Orientations = 0 }, "Orientations 0"},
	} {
		cfg := DefaultGaborConfig()
		tc.edit(&cfg)
		_, err := NewGabor(cfg)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want %q", tc.name, err, tc.want)
		}
	}
	// Other valid shapes: no colour, odd grid, 96 pixels.
	cfg := GaborConfig{Size: 96, Scales: 3, MinFrequency: 3, Orientations: 6, Bandwidth: 1.5, Grid: 3, Compress: "none"}
	g := mustGabor(t, cfg)
	feat, err := g.Extract(context.Background(), []image.Image{natural(100, 9)})
	if err != nil || len(feat) != 3*6*9 || g.Dim() != 3*6*9 {
		t.Errorf("custom config: %d features, Dim %d, err %v", len(feat), g.Dim(), err)
	}
}

func TestNew(t *testing.T) {
	e, err := New("gabor")
	if err != nil || e.ID() != "gabor-v1-n128-s4f4o8b1g8-c2g4-sqrt" {
		t.Fatalf("New(gabor) = %v, %v", e, err)
	}
	_, err = New("resnet")
	if err == nil || !strings.Contains(err.Error(), `unknown extractor "resnet" (known: gabor, and ONNX models: alexnet,`) {
		t.Errorf("New(resnet): err = %v", err)
	}
}

func BenchmarkGabor(b *testing.B) {
	g := mustGabor(b, DefaultGaborConfig())
	imgs := make([]image.Image, 16)
	for i := range imgs {
		imgs[i] = natural(425, uint64(i))
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := g.Extract(context.Background(), imgs); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*len(imgs))/b.Elapsed().Seconds(), "images/s")
}
