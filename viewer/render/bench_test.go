package render

import (
	"math"
	"path/filepath"
	"testing"

	"cortexcast/meshes"
)

// BenchmarkFrame1280x720 measures the per-frame CPU work of the viewer at 1280×720 with an
// overlay on every vertex and every ROI class's outlines shown: "camera" is a frame after a
// camera change (projection, culling, back-to-front sort, colors, draw list, outlines),
// "drag" the same with the level of detail on,
// "overlay" a frame after a new map (colors and draw list), "hover" one pointer pick, and
// "still" a frame with nothing changed. It reports ms per frame.
func BenchmarkFrame1280x720(b *testing.B) {
	for _, name := range []string{"fsaverage5", "fsaverage"} {
		dir := filepath.Dir(fsaverage5Dir(b))
		bundle, err := meshes.BuildBundle(dir, name)
		if err != nil {
			b.Logf("%s: %v", name, err)
			continue
		}
		m := NewModel(bundle)
		m.SetScreen(1280, 720, 1)
		var vals [2][]float32
		for h := range 2 {
			n := bundle.Hemis[h].NumVertices
			vals[h] = make([]float32, n)
			for i := range n {
				vals[h][i] = float32(math.Sin(float64(i) * 0.01))
			}
			if err := m.SetOverlay(h, vals[h]); err != nil {
				b.Fatal(err)
			}
		}
		for _, c := range m.ROIClasses() {
			m.SetROIVisible(c, true)
		}
		m.Prepare()
		frame := func(b *testing.B, change func(i int)) {
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				change(i)
				m.Prepare()
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/frame")
		}
		b.Run(name+"/camera", func(b *testing.B) { frame(b, func(int) { m.Orbit(0, 0, 3, 1) }) })
		// "drag": camera changes with the level of detail on (the coarser
		// level on full fsaverage; fsaverage5 has none at this size).
		m.SetMotionLOD(true)
		b.Run(name+"/drag", func(b *testing.B) { frame(b, func(int) { m.Orbit(0, 0, 3, 1) }) })
		m.SetMotionLOD(false)
		b.Run(name+"/overlay", func(b *testing.B) {
			frame(b, func(i int) {
				if err := m.SetOverlay(i%2, vals[i%2]); err != nil {
					b.Fatal(err)
				}
			})
		})
		b.Run(name+"/hover", func(b *testing.B) {
			frame(b, func(i int) { m.Pick(float32(300+i%600), 360, 12) })
		})
		b.Run(name+"/still", func(b *testing.B) { frame(b, func(int) {}) })
	}
}
