package main

import (
	"context"
	"flag"
	"fmt"
	"math"
	"runtime"
	"slices"
	"time"

	"cortexcast/meshes"
	"cortexcast/viewer/render"
)

// viewerTargets are the Go times per camera-change frame at
// 1280×720.
var viewerTargets = []struct {
	name   string
	target time.Duration
}{
	{"fsaverage5", 4 * time.Millisecond},
	{"fsaverage", 16 * time.Millisecond},
}

func viewerSection() section {
	return section{
		name: "viewer",
		about: "the viewer's Go work per frame at 1280x720 while the camera moves (projection, culling, back-to-front sort, " +
			"draw list, every ROI class's outlines) on fsaverage5 and full fsaverage, median of -viewer-frames frames",
		setup: func(fs *flag.FlagSet) func(context.Context, *bench) error {
			dir := fs.String("viewer-meshes", "", "directory with fsaverage5/ and fsaverage/ (default: found as cortexcast finds meshes, e.g. ../shared/data)")
			frames := fs.Int("viewer-frames", 40, "camera-change frames timed per mesh (after 3 untimed ones)")
			return func(ctx context.Context, b *bench) error {
				return benchViewer(ctx, b, *dir, *frames)
			}
		},
	}
}

func benchViewer(ctx context.Context, b *bench, dir string, frames int) error {
	if frames < 1 {
		return fmt.Errorf("-viewer-frames %d, want at least 1", frames)
	}
	src, err := meshes.FindFsaverageDir(dir)
	if err != nil {
		fmt.Fprintf(b.out, "viewer camera change: not measured: %v\n", err)
		return nil
	}
	for _, t := range viewerTargets {
		if err := ctx.Err(); err != nil {
			return err
		}
		label := fmt.Sprintf("viewer camera change %s 1280x720", t.name)
		if !meshes.HasResolution(src, t.name) {
			fmt.Fprintf(b.out, "%s: not measured, %s has no %s/ (target <= %d ms)\n", label, src, t.name, t.target.Milliseconds())
			continue
		}
		bundle, err := meshes.BuildBundle(src, t.name)
		if err != nil {
			return fmt.Errorf("%s: %w", label, err)
		}
		m := viewerModel(bundle)
		wall, cpu, hasCPU := viewerFrames(m, frames)
		// The frame's own CPU time is judged when the thread clock is
		// there: with other programs on the machine's few cores,
		// wall-clock time also counts the time the thread waited to run.
		judged, what := wall, "wall"
		if hasCPU {
			judged, what = cpu, "thread CPU"
		}
		median := judged[len(judged)/2]
		verdict := ""
		if median > t.target {
			verdict = ", MISSED"
			b.missed = true
		}
		_, _, chunks := m.DrawList()
		nv := 0
		if len(chunks) > 0 {
			nv = chunks[len(chunks)-1].V1
		}
		fmt.Fprintf(b.out, "%s: Go %.2f ms %s time per frame (median of %d, best %.2f ms; wall median %.2f ms; %d of %d triangles drawn, %d vertices in %d draw calls) (target <= %d ms%s)\n",
			label, ms(median), what, frames, ms(judged[0]), ms(wall[len(wall)/2]), m.Drawn(), m.NumTriangles(), nv, len(chunks), t.target.Milliseconds(), verdict)
		// The viewer's drag, as the viewer runs it (level of detail on):
		// full fsaverage draws its coarser level until the camera rests,
		// then the full frame above once. Both are judged by the target.
		m.SetMotionLOD(true)
		wall, cpu, _ = viewerFrames(m, frames)
		if m.Coarse() {
			lod := wall
			if hasCPU {
				lod = cpu
			}
			med := lod[len(lod)/2]
			verdict := ""
			if med > t.target {
				verdict = ", MISSED"
				b.missed = true
			}
			fmt.Fprintf(b.out, "%s while the camera moves (fsaverage6 level until it rests 200 ms): Go %.2f ms %s time per frame (median of %d; %d triangles drawn) (target <= %d ms%s)\n",
				label, ms(med), what, frames, m.Drawn(), t.target.Milliseconds(), verdict)
		}
	}
	return nil
}

// viewerFrames times frames camera-change frames of m (after 3 untimed
// ones) and returns their wall-clock times and the CPU times of the thread
// that ran them, both sorted, and whether the CPU times were measured.
func viewerFrames(m *render.Model, frames int) (wall, cpu []time.Duration, hasCPU bool) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	// Collect the garbage of building the bundle now: frames allocate
	// nothing, so no collection should run (on the timed core) after.
	runtime.GC()
	wall = make([]time.Duration, 0, frames)
	cpu = make([]time.Duration, 0, frames)
	_, hasCPU = threadCPUTime()
	for i := range frames + 3 {
		c0, _ := threadCPUTime()
		start := time.Now()
		m.Orbit(0, 0, 3, 1) // a 3-pixel drag
		m.Prepare()
		w := time.Since(start)
		c1, _ := threadCPUTime()
		if i >= 3 {
			wall = append(wall, w)
			cpu = append(cpu, c1-c0)
		}
	}
	slices.Sort(wall)
	slices.Sort(cpu)
	return wall, cpu, hasCPU
}

// viewerModel is the viewer's model at 1280×720 with an overlay on every
// vertex and every ROI class's outlines shown.
func viewerModel(b *meshes.Bundle) *render.Model {
	m := render.NewModel(b)
	m.SetScreen(1280, 720, 1)
	for h := range 2 {
		vals := make([]float32, b.Hemis[h].NumVertices)
		for i := range vals {
			vals[i] = float32(math.Sin(float64(i) * 0.01))
		}
		_ = m.SetOverlay(h, vals) // the length matches by construction
	}
	for _, c := range m.ROIClasses() {
		m.SetROIVisible(c, true)
	}
	m.Prepare()
	return m
}
