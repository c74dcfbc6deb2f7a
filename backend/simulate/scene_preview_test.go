package simulate

import (
	"image"
	"image/draw"
	"image/png"
	"math/rand/v2"
	"os"
	"testing"
)

func TestPreviewScenes(t *testing.T) {
	out := os.Getenv("SIM_PREVIEW")
	if out == "" {
		t.Skip("SIM_PREVIEW not set")
	}
	grid := image.NewRGBA(image.Rect(0, 0, 6*ImageSize/2, 4*ImageSize/2))
	for i := 0; i < 24; i++ {
		img, lb := scene(rand.New(rand.NewPCG(uint64(i), 7)))
		t.Log(i, lb.Background, lb.Present, lb.Signal)
		// 2x downsample
		x0, y0 := (i%6)*ImageSize/2, (i/6)*ImageSize/2
		for y := 0; y < ImageSize/2; y++ {
			for x := 0; x < ImageSize/2; x++ {
				grid.Set(x0+x, y0+y, img.At(2*x, 2*y))
			}
		}
	}
	_ = draw.Draw
	f, _ := os.Create(out)
	defer f.Close()
	png.Encode(f, grid)
}
