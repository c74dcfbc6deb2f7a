package imageio

import (
	"encoding/binary"
	"fmt"
	"image"
	"image/color"
	"image/color/palette"
	"math"
	"os"
	"path/filepath"
	"testing"
)

func readF32(t *testing.T, name string, n int) []float32 {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatalf("fixture %s (run /usr/bin/python3 scripts/fixtures/imageio.py): %v", name, err)
	}
	if len(b) != 4*n {
		t.Fatalf("fixture %s: %d bytes, want %d", name, len(b), 4*n)
	}
	v := make([]float32, n)
	for i := range v {
		v[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return v
}

// TestResizeMatchesPIL compares against PIL's Image.resize(BICUBIC) in mode
// "F" (fixtures from scripts/fixtures/imageio.py).
func TestResizeMatchesPIL(t *testing.T) {
	src := &RGB{W: 37, H: 29, Pix: readF32(t, "resize_src_37x29.f32", 37*29*3)}
	for _, sz := range [][2]int{{10, 7}, {53, 41}, {16, 40}, {37, 12}, {3, 2}} {
		t.Run(fmt.Sprintf("%dx%d", sz[0], sz[1]), func(t *testing.T) {
			want := readF32(t, fmt.Sprintf("resize_out_%dx%d.f32", sz[0], sz[1]), sz[0]*sz[1]*3)
			got := ResizeRGB(src, sz[0], sz[1])
			if got.W != sz[0] || got.H != sz[1] {
				t.Fatalf("size %dx%d", got.W, got.H)
			}
			if d := maxAbsDiff(got.Pix, want); d > 2e-6 {
				t.Errorf("max difference from PIL %g", d)
			}
		})
	}
}

func TestResizeInvariants(t *testing.T) {
	// A constant image stays exactly constant (weights sum to one).
	c := NewRGB(50, 30)
	for i := range c.Pix {
		c.Pix[i] = []float32{0.25, 0.5, 0.75}[i%3]
	}
	for _, sz := range [][2]int{{7, 5}, {120, 90}, {50, 11}, {1, 1}} {
		out := ResizeRGB(c, sz[0], sz[1])
		for i, v := range out.Pix {
			if want := c.Pix[i%3]; abs32(v-want) > 1e-6 {
				t.Fatalf("constant %v: value %d = %v, want %v", sz, i, v, want)
			}
		}
	}
	// A horizontal linear ramp keeps its mean when the width divides evenly
	// (the antialiased kernel is symmetric around each output centre), and an
	// interior output equals the ramp at its centre.
	r := NewRGB(64, 4)
	for y := 0; y < r.H; y++ {
		for x := 0; x < r.W; x++ {
			for ch := 0; ch < 3; ch++ {
				r.Pix[(y*r.W+x)*3+ch] = (float32(x) + 0.5) / 64
			}
		}
	}
	out := ResizeRGB(r, 16, 4)
	var sum float64
	for x := 0; x < 16; x++ {
		sum += float64(out.Pix[x*3])
	}
	if mean := sum / 16; math.Abs(mean-0.5) > 2e-3 {
		t.Errorf("ramp mean %v, want 0.5", mean)
	}
	// Output 8 covers input [32, 36): its centre is x = 34, value 34/64.
	if got, want := out.Pix[8*3], float32(34.0/64); abs32(got-want) > 1e-6 {
		t.Errorf("ramp interior sample %v, want %v", got, want)
	}
	// Same size is an exact copy, not an alias.
	same := ResizeRGB(r, 64, 4)
	if maxAbsDiff(same.Pix, r.Pix) != 0 || &same.Pix[0] == &r.Pix[0] {
		t.Error("same-size resize is not an exact copy")
	}
}

func TestResizePanicsOnEmpty(t *testing.T) {
	for _, tc := range []struct {
		src  *RGB
		w, h int
	}{
		{NewRGB(4, 4), 0, 4},
		{NewRGB(4, 4), 4, -1},
		{NewRGB(0, 0), 4, 4},
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("ResizeRGB(%dx%d → %dx%d) did not panic", tc.src.W, tc.src.H, tc.w, tc.h)
				}
			}()
			ResizeRGB(tc.src, tc.w, tc.h)
		}()
	}
}

func TestCrop(t *testing.T) {
	src := ToRGB(testImage(6, 4))
	sq := CenterSquareRGB(src)
	if sq.W != 4 || sq.H != 4 {
		t.Fatalf("square %dx%d", sq.W, sq.H)
	}
	for y := 0; y < 4; y++ {
		for x := 0; x < 4; x++ {
			i, j := (y*4+x)*3, (y*6+x+1)*3
			if maxAbsDiff(sq.Pix[i:i+3], src.Pix[j:j+3]) != 0 {
				t.Fatalf("pixel (%d,%d) differs", x, y)
			}
		}
	}
}

func BenchmarkDecodeToRGBResize(b *testing.B) {
	data := encodePNG(b, testImage(425, 425))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		img, _, err := Decode(data, DefaultLimits())
		if err != nil {
			b.Fatal(err)
		}
		ResizeRGB(ToRGB(img), 128, 128)
	}
}

func BenchmarkToRGBResize(b *testing.B) {
	img := testImage(425, 425)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		ResizeRGB(ToRGB(img), 128, 128)
	}
}

func TestResizeImageMatchesResizeRGB(t *testing.T) {
	base := testImage(41, 27)
	ycc := image.NewYCbCr(base.Bounds(), image.YCbCrSubsampleRatio420)
	gray := image.NewGray(base.Bounds())
	pal := image.NewPaletted(base.Bounds(), palette.WebSafe)
	for y := 0; y < 27; y++ {
		for x := 0; x < 41; x++ {
			c := base.NRGBAAt(x, y)
			gray.Set(x, y, c)
			pal.Set(x, y, c)
			yy, cb, cr := color.RGBToYCbCr(c.R, c.G, c.B)
			ycc.Y[ycc.YOffset(x, y)], ycc.Cb[ycc.COffset(x, y)], ycc.Cr[ycc.COffset(x, y)] = yy, cb, cr
		}
	}
	imgs := map[string]image.Image{
		"nrgba": base, "ycbcr420": ycc, "gray": gray, "paletted": pal,
		"sub": base.SubImage(image.Rect(3, 2, 30, 25)), "gray16": image.NewGray16(image.Rect(0, 0, 5, 9)),
	}
	for name, img := range imgs {
		for _, sz := range [][2]int{{8, 8}, {64, 5}, {img.Bounds().Dx(), 13}, {17, img.Bounds().Dy()}} {
			got := ResizeImage(img, sz[0], sz[1])
			want := ResizeRGB(ToRGB(img), sz[0], sz[1])
			if got.W != want.W || got.H != want.H || maxAbsDiff(got.Pix, want.Pix) != 0 {
				t.Errorf("%s → %v: ResizeImage differs from ResizeRGB(ToRGB)", name, sz)
			}
		}
	}
}

func TestCenterSquare(t *testing.T) {
	base := testImage(10, 4)
	for _, img := range []image.Image{base, struct{ image.Image }{base}} {
		sq := CenterSquare(img)
		if b := sq.Bounds(); b != image.Rect(3, 0, 7, 4) {
			t.Fatalf("bounds %v", b)
		}
		got, want := ToRGB(sq), CenterSquareRGB(ToRGB(base))
		if d := maxAbsDiff(got.Pix, want.Pix); d > 2e-5 { // generic path rounds to 16 bits
			t.Errorf("CenterSquare differs from CenterSquareRGB by %g", d)
		}
	}
}
