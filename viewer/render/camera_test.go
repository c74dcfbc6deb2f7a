package render

import (
	"math"
	"testing"
)

func near(a, b, tol float32) bool { return float32(math.Abs(float64(a-b))) <= tol }

func TestBasisOrthonormal(t *testing.T) {
	for _, az := range []float32{0, 30, 90, 180, 215, 270, 359} {
		for _, el := range []float32{-90, -45, 0, 10, 60, 90} {
			b := Camera{Azimuth: az, Elevation: el, Zoom: 1}.Basis()
			for _, c := range []struct {
				name string
				got  float32
				want float32
			}{
				{"|R|", b.Right.dot(b.Right), 1}, {"|U|", b.Up.dot(b.Up), 1}, {"|F|", b.Forward.dot(b.Forward), 1},
				{"R·U", b.Right.dot(b.Up), 0}, {"R·F", b.Right.dot(b.Forward), 0}, {"U·F", b.Up.dot(b.Forward), 0},
			} {
				if !near(c.got, c.want, 1e-6) {
					t.Errorf("az %v el %v: %s = %v, want %v", az, el, c.name, c.got, c.want)
				}
			}
			// Right × Up points toward the camera (−Forward): right-handed.
			x := b.Right.cross(b.Up)
			for k := range 3 {
				if !near(x[k], -b.Forward[k], 1e-6) {
					t.Errorf("az %v el %v: R×U = %v, want −F = %v", az, el, x, b.Forward)
				}
			}
			// The camera sits at −Forward = (cos e cos a, cos e sin a, sin e).
			a, e := float64(az)*math.Pi/180, float64(el)*math.Pi/180
			d := Vec3{float32(math.Cos(e) * math.Cos(a)), float32(math.Cos(e) * math.Sin(a)), float32(math.Sin(e))}
			for k := range 3 {
				if !near(-b.Forward[k], d[k], 1e-6) {
					t.Errorf("az %v el %v: camera direction %v, want %v", az, el, b.Forward, d)
				}
			}
		}
	}
}

func TestProject(t *testing.T) {
	vp := Viewport{X: 100, Y: 50, W: 400, H: 300, Scale: 2, Center: Vec3{1, 2, 3}}
	// Screen middle is (300, 200).
	cases := []struct {
		view         string
		p            Vec3
		sx, sy, dpth float32
	}{
		// Lateral view of lh: camera at −x; anterior (+y) is screen left, superior up.
		{"lateral", Vec3{1, 12, 3}, 300 - 20, 200, 0},
		{"lateral", Vec3{1, 2, 13}, 300, 200 - 20, 0},
		{"lateral", Vec3{-49, 2, 3}, 300, 200, -50}, // toward the camera: nearer
		// Medial: camera at +x; anterior is screen right.
		{"medial", Vec3{1, 12, 3}, 300 + 20, 200, 0},
		// Posterior: camera behind; the right side (+x) is screen right.
		{"posterior", Vec3{11, 2, 3}, 300 + 20, 200, 0},
		{"posterior", Vec3{1, 12, 3}, 300, 200, 10}, // anterior is farther
		// Dorsal: from above, anterior up, right is right.
		{"dorsal", Vec3{1, 12, 3}, 300, 200 - 20, 0},
		{"dorsal", Vec3{11, 2, 3}, 300 + 20, 200, 0},
		{"dorsal", Vec3{1, 2, 13}, 300, 200, -10},
		// Ventral: from below, anterior up, so the right side is screen left.
		{"ventral", Vec3{1, 12, 3}, 300, 200 - 20, 0},
		{"ventral", Vec3{11, 2, 3}, 300 - 20, 200, 0},
		// Anterior: from the front; the right side is screen left.
		{"anterior", Vec3{11, 2, 3}, 300 - 20, 200, 0},
	}
	for _, c := range cases {
		cam, err := PresetCamera(c.view)
		if err != nil {
			t.Fatal(err)
		}
		b := cam.Basis()
		sx, sy, d := b.Project(&vp, c.p)
		if !near(sx, c.sx, 1e-4) || !near(sy, c.sy, 1e-4) || !near(d, c.dpth, 1e-4) {
			t.Errorf("%s %v: got (%v, %v, depth %v), want (%v, %v, %v)", c.view, c.p, sx, sy, d, c.sx, c.sy, c.dpth)
		}
	}
	// An oblique camera: azimuth 30, elevation 45. A point 10 mm toward the
	// camera projects to the middle at depth −10; one along (−sin a, cos a, 0)
	// goes right.
	b := Camera{Azimuth: 30, Elevation: 45, Zoom: 1}.Basis()
	r := math.Sqrt(0.5)
	toCam := Vec3{float32(10 * r * math.Cos(math.Pi/6)), float32(10 * r * math.Sin(math.Pi/6)), float32(10 * r)}
	sx, sy, d := b.Project(&vp, Vec3{1 + toCam[0], 2 + toCam[1], 3 + toCam[2]})
	if !near(sx, 300, 1e-4) || !near(sy, 200, 1e-4) || !near(d, -10, 1e-5) {
		t.Errorf("oblique toward camera: (%v, %v, %v)", sx, sy, d)
	}
	sx, sy, d = b.Project(&vp, Vec3{1 - 0.5*5, 2 + float32(math.Sqrt(3)/2)*5, 3})
	if !near(sx, 310, 1e-4) || !near(sy, 200, 1e-4) || !near(d, 0, 1e-5) {
		t.Errorf("oblique right: (%v, %v, %v)", sx, sy, d)
	}
}

func TestCameraOps(t *testing.T) {
	mirror := []struct{ az, want float32 }{{180, 0}, {0, 180}, {270, 270}, {90, 90}, {240, 300}}
	for _, c := range mirror {
		if got := (Camera{Azimuth: c.az}).Mirrored().Azimuth; !near(got, c.want, 1e-4) {
			t.Errorf("Mirrored(%v) = %v, want %v", c.az, got, c.want)
		}
	}
	orbit := []struct {
		az, el, daz, del float32
		wantAz, wantEl   float32
	}{
		{350, 0, 20, 0, 10, 0},
		{10, 80, -30, 30, 340, 90},
		{0, -70, 0, -45, 0, -90},
		{100, 0, 720, 5, 100, 5},
	}
	for _, c := range orbit {
		got := Camera{Azimuth: c.az, Elevation: c.el, Zoom: 1}.Orbit(c.daz, c.del)
		if !near(got.Azimuth, c.wantAz, 1e-3) || !near(got.Elevation, c.wantEl, 1e-3) {
			t.Errorf("Orbit(%v,%v by %v,%v) = %v,%v, want %v,%v", c.az, c.el, c.daz, c.del, got.Azimuth, got.Elevation, c.wantAz, c.wantEl)
		}
	}
	if z := (Camera{Zoom: 1}).Zoomed(100).Zoom; z != MaxZoom {
		t.Errorf("zoom clamps to %v, got %v", MaxZoom, z)
	}
	if z := (Camera{Zoom: 1}).Zoomed(0.001).Zoom; z != MinZoom {
		t.Errorf("zoom clamps to %v, got %v", MinZoom, z)
	}
	if s := FitScale(800, 600, 100, 1, 0.9); !near(s, 2.7, 1e-6) {
		t.Errorf("FitScale = %v, want 2.7", s)
	}
	for _, name := range ViewNames() {
		if _, err := PresetCamera(name); err != nil {
			t.Error(err)
		}
	}
	if _, err := PresetCamera("sideways"); err == nil {
		t.Error("unknown view accepted")
	}
}
