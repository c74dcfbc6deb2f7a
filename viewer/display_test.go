//go:build display

// This test runs the real Ebiten game loop, so it needs a display: natively
// on Linux Ebiten panics at init without one. Run it with
//
//	xvfb-run -a go test -tags display ./viewer
//
// (CORTEXCAST_VIEWER_PNG=dir also writes the captured frame there).

package viewer

import (
	"errors"
	"image"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/hajimehoshi/ebiten/v2"

	"cortexcast/meshes"
	"cortexcast/viewer/render"
)

// capture runs v for a few frames and returns the last frame's pixels.
type capture struct {
	v      *Viewer
	frames int
	img    *image.RGBA
}

var errDone = errors.New("done")

func (c *capture) Update() error {
	if c.img != nil {
		return ebiten.Termination
	}
	return c.v.Update()
}

func (c *capture) Draw(screen *ebiten.Image) {
	c.v.Draw(screen)
	c.frames++
	if c.frames == 5 {
		b := screen.Bounds()
		img := image.NewRGBA(b)
		screen.ReadPixels(img.Pix)
		c.img = img
	}
}

func (c *capture) Layout(w, h int) (int, int) { return c.v.Layout(w, h) }

func TestDrawOnDisplay(t *testing.T) {
	root, _ := filepath.Abs("..")
	dir := filepath.Join(root, "..", "shared", "data")
	if _, err := os.Stat(filepath.Join(dir, "fsaverage5")); err != nil {
		t.Skipf("real meshes absent: %s/fsaverage5 not found", dir)
	}
	b, err := meshes.BuildBundle(dir, "fsaverage5")
	if err != nil {
		t.Fatal(err)
	}
	v := New(b)
	v.SetTitle("predicted activation — subj01 — simulated data")
	ov := make([]float32, b.Hemis[1].NumVertices)
	for i := range ov {
		ov[i] = float32(math.NaN())
		if y := b.Hemis[1].Inflated[3*i+1]; y < -60 {
			ov[i] = -60 - y
		}
	}
	if err := v.SetOverlay(meshes.RH, ov); err != nil {
		t.Fatal(err)
	}
	v.SetView("lateral")
	ebiten.SetWindowSize(800, 500)
	c := &capture{v: v}
	if err := ebiten.RunGame(c); err != nil && !errors.Is(err, errDone) {
		t.Fatal(err)
	}
	img := c.img
	if img == nil {
		t.Fatal("no frame captured")
	}
	if out := os.Getenv("CORTEXCAST_VIEWER_PNG"); out != "" {
		f, err := os.Create(filepath.Join(out, "display.png"))
		if err != nil {
			t.Fatal(err)
		}
		png.Encode(f, img)
		f.Close()
	}
	w, h := img.Bounds().Dx(), img.Bounds().Dy()
	bg := v.background
	br, bgc, bb, _ := bg.RGBA()
	isBG := func(x, y int) bool {
		p := img.RGBAAt(x, y)
		return uint32(p.R)<<8|uint32(p.R) == br && uint32(p.G)<<8|uint32(p.G) == bgc && uint32(p.B)<<8|uint32(p.B) == bb
	}
	count := func(r image.Rectangle, f func(x, y int) bool) int {
		n := 0
		for y := r.Min.Y; y < r.Max.Y; y++ {
			for x := r.Min.X; x < r.Max.X; x++ {
				if f(x, y) {
					n++
				}
			}
		}
		return n
	}
	notBG := func(x, y int) bool { return !isBG(x, y) }
	v.mu.Lock()
	panels := v.m.Panels()
	bar := v.m.BarRect()
	v.mu.Unlock()
	for hemi, p := range panels {
		r := image.Rect(int(p.X), int(p.Y), int(p.X+p.W), int(p.Y+p.H))
		if n := count(r, notBG); n < r.Dx()*r.Dy()/5 {
			t.Errorf("%s panel %v: %d surface pixels", meshes.HemiName(hemi), r, n)
		}
	}
	red := func(x, y int) bool { p := img.RGBAAt(x, y); return int(p.R) > int(p.B)+60 }
	if n := count(image.Rect(0, int(panels[0].Y), w/2, int(panels[0].Y+panels[0].H)), red); n != 0 {
		t.Errorf("%d overlay pixels on lh, which has none", n)
	}
	if n := count(image.Rect(w/2, int(panels[1].Y), w, int(panels[1].Y+panels[1].H)), red); n < 500 {
		t.Errorf("%d overlay pixels on rh", n)
	}
	// The colorbar: blue at its left end, red at its right end.
	midY := int(bar.Y + bar.H/2)
	l, r := img.RGBAAt(int(bar.X)+2, midY), img.RGBAAt(int(bar.X+bar.W)-3, midY)
	if !(l.B > l.R+40) || !(r.R > r.B+40) {
		t.Errorf("colorbar ends %v and %v, want blue then red", l, r)
	}
	// Title text: some white pixels in the title band.
	white := func(x, y int) bool { p := img.RGBAAt(x, y); return p.R > 200 && p.G > 200 && p.B > 200 }
	if n := count(image.Rect(0, 0, w, render.TitleBand), white); n < 100 {
		t.Errorf("%d title pixels", n)
	}
	// Colorbar labels below the bar.
	if n := count(image.Rect(0, int(bar.Y+bar.H), w, h), white); n < 30 {
		t.Errorf("%d colorbar label pixels", n)
	}
	if drawn, has := v.Stats(); drawn < 15000 || !has {
		t.Errorf("Stats = %d, %v", drawn, has)
	}
}
