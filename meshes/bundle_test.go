package meshes

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// tinyBundle has a tetrahedron with every optional part in lh and the
// smallest valid hemisphere (one triangle) in rh.
func tinyBundle() *Bundle {
	tet := []uint32{0, 2, 1, 0, 1, 3, 0, 3, 2, 1, 2, 3}
	lh := HemiMesh{
		NumVertices:   4,
		Inflated:      []float32{0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1},
		Pial:          []float32{0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0, 2},
		White:         []float32{0, 0, 0, 1.5, 0, 0, 0, 1.5, 0, 0, 0, 1.5},
		Sphere:        []float32{-100, 0, 0, 100, 0, 0, 0, 100, 0, 0, 0, 400.125},
		Flat:          []float32{0, 0, 0, 10, 0, 0, 0, 10, 0, 0, 0, 0},
		Triangles:     tet,
		FlatTriangles: []uint32{0, 2, 1},
		Sulc:          []float32{-1, 0.5, 2, float32(math.NaN())},
		Curv:          []float32{0.125, -0.25, 1e-3, 3},
		Labels: []LabelMap{
			{Class: "prf-visualrois", Names: KnownLabelNames("prf-visualrois"), Values: []uint16{0, 1, 7, 0}},
			{Class: "wide", Values: []uint16{0, 300, 65535, 2}},
		},
	}
	lh.ComputeNormals()
	lh.Quantize()
	rh := HemiMesh{
		NumVertices: 3,
		Inflated:    []float32{-1, 0, 0, -2, 1, 0, -1, 1, 1},
		Triangles:   []uint32{0, 1, 2},
		Sulc:        []float32{0, 1, -1},
	}
	return &Bundle{Name: "tiny", Sources: "abc123", FullVertices: FsaverageVertices, Hemis: [2]HemiMesh{lh, rh}}
}

func encode(t testing.TB, b *Bundle) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := b.Encode(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// bundlesEqual compares decoded bundles, treating NaN as equal to NaN.
func bundlesEqual(a, b *Bundle) bool {
	nanless := func(x *Bundle) *Bundle {
		c := *x
		for i := range c.Hemis {
			h := &c.Hemis[i]
			for _, p := range []*[]float32{&h.Sulc, &h.Curv} {
				if *p == nil {
					continue
				}
				v := append([]float32(nil), (*p)...)
				for j := range v {
					if v[j] != v[j] {
						v[j] = 12345
					}
				}
				*p = v
			}
		}
		return &c
	}
	return reflect.DeepEqual(nanless(a), nanless(b))
}

func TestBundleRoundTrip(t *testing.T) {
	b := tinyBundle()
	raw := encode(t, b)
	got, err := DecodeBundle(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	if !bundlesEqual(got, b) {
		t.Fatalf("round trip differs:\n got %+v\nwant %+v", got.Hemis[0], b.Hemis[0])
	}
	if !math.IsNaN(float64(got.Hemis[0].Sulc[3])) {
		t.Error("NaN sulcal depth lost")
	}
	var gz bytes.Buffer
	if err := b.EncodeGzip(&gz); err != nil {
		t.Fatal(err)
	}
	if gz.Bytes()[0] != 0x1f {
		t.Fatal("EncodeGzip wrote no gzip stream")
	}
	got, err = DecodeBundle(&gz)
	if err != nil {
		t.Fatal(err)
	}
	if !bundlesEqual(got, b) {
		t.Fatal("gzip round trip differs")
	}
	if v, ok := got.BundleVertex(LH, 3); !ok || v != 3 {
		t.Errorf("BundleVertex(lh, 3) = %d, %v", v, ok)
	}
	if _, ok := got.BundleVertex(RH, 3); ok {
		t.Error("BundleVertex(rh, 3) found a vertex in a 3-vertex hemisphere")
	}
	if l := got.Hemis[0].Label("wide"); l == nil || l.Values[2] != 65535 {
		t.Errorf("wide labels %v", l)
	}
}

// TestBundleLayout checks the bytes against a hand-encoded rh hemisphere.
func TestBundleLayout(t *testing.T) {
	raw := encode(t, tinyBundle())
	if string(raw[:4]) != "CCMB" || binary.LittleEndian.Uint32(raw[4:]) != 2 {
		t.Fatalf("header % x", raw[:8])
	}
	// name str, sources str, full-vertices uv (163842 = 0x82 0x80 0x0a).
	wantHead := append([]byte{4}, "tiny"...)
	wantHead = append(wantHead, 6)
	wantHead = append(wantHead, "abc123"...)
	wantHead = append(wantHead, 0x82, 0x80, 0x0a)
	if !bytes.Equal(raw[8:8+len(wantHead)], wantHead) {
		t.Fatalf("header fields % x, want % x", raw[8:8+len(wantHead)], wantHead)
	}
	if got, want := binary.LittleEndian.Uint32(raw[len(raw)-4:]), crc32.ChecksumIEEE(raw[:len(raw)-4]); got != want {
		t.Fatalf("checksum %#x, want %#x", got, want)
	}
	// rh: inflated (-1,0,0) (-2,1,0) (-1,1,1) → codes x -100 -200 -100,
	// y 0 100 100, z 0 0 100 → deltas x -100 -100 100, y 0 100 0, z 0 0 100.
	rh := []byte{3, 3, // N, 3 sections
		1, 20, 0, 0, // positions: inflated, exponent 0
		0x9c, 0x9c, 0x64, 0, 0x64, 0, 0, 0, 0x64, // low bytes
		0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, // high bytes
		3, 10, 0, 1, 0, 2, // triangles: mesh, T 1, planes, width 2
		0, 2, 4, 0, 0, 0, // zigzag(0), zigzag(1-0), zigzag(2-0)
		4, 7, 0, // scalars: sulc, float16 0, 1, -1 split
		0, 0, 0, 0, 0x3c, 0xbc,
	}
	if tail := raw[len(raw)-4-len(rh) : len(raw)-4]; !bytes.Equal(tail, rh) {
		t.Fatalf("rh bytes\n% x\nwant\n% x", tail, rh)
	}
	// The lh flat triangles are a subset of its mesh triangles: a mask.
	mask := []byte{3, 4, 1, 1, 1, 0x01} // triangles: flat, T 1, mask, bits 0001
	if !bytes.Contains(raw, mask) {
		t.Error("flat triangles not stored as a mask over the mesh triangles")
	}
}

// rewrite returns raw with f applied to a copy and the checksum redone.
func rewrite(raw []byte, f func([]byte) []byte) []byte {
	b := f(append([]byte(nil), raw[:len(raw)-4]...))
	return binary.LittleEndian.AppendUint32(b, crc32.ChecksumIEEE(b))
}

func TestDecodeBundleErrors(t *testing.T) {
	good := encode(t, tinyBundle())
	n := len(good)
	rhAt := n - 4 - 45 // start of the rh hemisphere (see TestBundleLayout)
	cases := []struct {
		name string
		data []byte
		want string
	}{
		{"empty", nil, "too short"},
		{"bad magic", append([]byte("XXXX"), good[4:]...), "magic"},
		{"version 1", rewrite(good, func(b []byte) []byte { b[4] = 1; return b }), "no longer read"},
		{"version 3", rewrite(good, func(b []byte) []byte { b[4] = 3; return b }), "update cortexcast"},
		{"truncated", good[:n/2], "checksum mismatch"},
		{"bit flip", func() []byte { b := append([]byte(nil), good...); b[n/2] ^= 1; return b }(), "checksum mismatch"},
		{"trailing bytes", rewrite(good, func(b []byte) []byte { return append(b, 0) }), "unexpected bytes"},
		{"zero vertices", rewrite(good, func(b []byte) []byte { b[rhAt] = 0; return b }), "vertex count 0"},
		{"vertex count vs positions", rewrite(good, func(b []byte) []byte { b[rhAt] = 4; return b }), "needs 24 bytes"},
		{"unknown section", rewrite(good, func(b []byte) []byte { b[rhAt+2] = 9; return b }), "unknown section kind 9"},
		{"index out of range", rewrite(good, func(b []byte) []byte { b[rhAt+2+22+8] = 6; return b }), "index 3 outside 3 vertices"},
		{"bad width", rewrite(good, func(b []byte) []byte { b[rhAt+2+22+5] = 3; return b }), "width 3"},
		{"duplicate section", rewrite(good, func(b []byte) []byte { b[rhAt+2+22+12] = 1; return b }), "inflated positions appears twice"},
		{"missing sulc", rewrite(good, func(b []byte) []byte { b[rhAt+1] = 2; return b[:len(b)-9] }), "missing a required section"},
		{"section overruns", rewrite(good, func(b []byte) []byte { b[rhAt+3] = 100; return b }), "needs 100 bytes"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := DecodeBundle(bytes.NewReader(c.data))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want one containing %q", err, c.want)
			}
			if !strings.HasPrefix(err.Error(), "meshes: decode bundle: ") {
				t.Errorf("error %q lacks the package prefix", err)
			}
		})
	}
}

func TestEncodeRejectsInvalid(t *testing.T) {
	for _, c := range []struct {
		name string
		mod  func(b *Bundle)
		want string
	}{
		{"index", func(b *Bundle) { b.Hemis[1].Triangles[2] = 3 }, "outside 3 vertices"},
		{"positions", func(b *Bundle) { b.Hemis[0].Pial = b.Hemis[0].Pial[:6] }, "pial positions have 6 values"},
		{"non-finite", func(b *Bundle) { b.Hemis[1].Inflated[4] = float32(math.Inf(1)) }, "non-finite"},
		{"flat without triangles", func(b *Bundle) { b.Hemis[0].FlatTriangles = nil }, "both present"},
		{"normals without surface", func(b *Bundle) { b.Hemis[1].Normals[SurfPial] = make([]int8, 9) }, "pial normals without"},
		{"labels length", func(b *Bundle) { b.Hemis[0].Labels[0].Values = []uint16{1} }, "have 1 values, want 4"},
		{"labels twice", func(b *Bundle) { b.Hemis[0].Labels[1].Class = "prf-visualrois" }, "appears twice"},
		{"no sulc", func(b *Bundle) { b.Hemis[1].Sulc = nil }, "Sulc has 0 values"},
		{"long name", func(b *Bundle) { b.Name = strings.Repeat("x", 300) }, "longer than 256"},
	} {
		t.Run(c.name, func(t *testing.T) {
			b := tinyBundle()
			c.mod(b)
			err := b.Encode(&bytes.Buffer{})
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want one containing %q", err, c.want)
			}
		})
	}
}

func TestFloat16(t *testing.T) {
	for _, c := range []struct {
		in   float32
		want uint16
	}{
		{0, 0}, {float32(math.Copysign(0, -1)), 0x8000}, {1, 0x3c00}, {-2, 0xc000}, {0.5, 0x3800},
		{65504, 0x7bff}, {65520, 0x7c00}, {float32(math.Inf(-1)), 0xfc00},
		{1e-8, 0}, {6e-8, 0x0001}, {float32(math.Ldexp(1, -14)), 0x0400},
		{1 + 1.0/2048, 0x3c00}, {1 + 3.0/2048, 0x3c02}, // ties to even
		{0.1, 0x2e66},
	} {
		if got := Float16(c.in); got != c.want {
			t.Errorf("Float16(%v) = %#04x, want %#04x", c.in, got, c.want)
		}
	}
	if h := Float16(float32(math.NaN())); h&0x7c00 != 0x7c00 || h&0x3ff == 0 {
		t.Errorf("Float16(NaN) = %#04x", h)
	}
	if v := Float32FromHalf(1); v != float32(math.Ldexp(1, -24)) {
		t.Errorf("smallest subnormal = %v", v)
	}
	for h := range 1 << 16 {
		if h&0x7c00 == 0x7c00 && h&0x3ff != 0 {
			continue // NaN payloads
		}
		if got := Float16(Float32FromHalf(uint16(h))); got != uint16(h) {
			t.Fatalf("half %#04x → %v → %#04x", h, Float32FromHalf(uint16(h)), got)
		}
	}
}

func TestQuantizePositions(t *testing.T) {
	for _, c := range []struct {
		p    []float32
		exp  int
		step float64
	}{
		{[]float32{1.234, -327.67, 0.004}, 0, 0.01},
		{[]float32{400, -1}, 1, 0.02},
		{[]float32{0, 0}, 0, 0.01},
		{[]float32{1e6}, 12, 40.96},
	} {
		if e := positionExponent(c.p); e != c.exp {
			t.Errorf("%v: exponent %d, want %d", c.p, e, c.exp)
		}
		q := QuantizePositions(c.p)
		for i := range q {
			if d := math.Abs(float64(q[i] - c.p[i])); d > c.step/2*1.0001 {
				t.Errorf("%v: %v quantised to %v, error %v > %v", c.p, c.p[i], q[i], d, c.step/2)
			}
		}
		if !reflect.DeepEqual(QuantizePositions(q), q) {
			t.Errorf("%v: quantisation is not idempotent", c.p)
		}
	}
}

func TestComputeNormals(t *testing.T) {
	n := ComputeNormals([]float32{0, 0, 0, 1, 0, 0, 0, 1, 0, 5, 5, 5}, []uint32{0, 1, 2})
	want := []int8{0, 0, 127, 0, 0, 127, 0, 0, 127, 0, 0, 0}
	if !reflect.DeepEqual(n, want) {
		t.Fatalf("normals %v, want %v", n, want)
	}
	// The icosahedron's normals point away from its centre (1.5, -2.25, 3).
	s, err := ReadFreeSurferSurface("testdata/fs/ico.surf")
	if err != nil {
		t.Fatal(err)
	}
	nf := NormalsFloat32(ComputeNormals(s.Positions, s.Triangles))
	c := [3]float64{1.5, -2.25, 3}
	for i := range s.NumVertices() {
		var dot, l float64
		for k := range 3 {
			r := float64(s.Positions[3*i+k]) - c[k]
			dot += r * float64(nf[3*i+k])
			l += r * r
		}
		if cos := dot / math.Sqrt(l); cos < 0.995 {
			t.Errorf("vertex %d: normal·radial = %v", i, cos)
		}
	}
}

// fsLayout writes a FreeSurfer subjects directory with an fsaverage5
// subject made of the icosahedron fixtures, and returns its path.
func fsLayout(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	copyFile := func(src, dst string) {
		raw, err := os.ReadFile(filepath.Join("testdata/fs", src))
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, "fsaverage5", dst)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, raw, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, h := range []string{"lh", "rh"} {
		copyFile("ico.surf", "surf/"+h+".inflated")
		copyFile("ico_tags.surf", "surf/"+h+".pial")
		copyFile("ico.surf.gz", "surf/"+h+".sphere.gz")
		copyFile("ico.curv", "surf/"+h+".sulc")
		copyFile("ico.curv.gz", "surf/"+h+".curv.gz")
		copyFile("patch.flat.gz", "surf/"+h+".cortex.patch.flat.gz")
		copyFile("map_uchar.mgz", "label/"+h+".test.mgz")
	}
	return dir
}

func TestBuildBundleFreeSurferLayout(t *testing.T) {
	dir := fsLayout(t)
	b, err := BuildBundle(dir, "fsaverage5")
	if err != nil {
		t.Fatal(err)
	}
	exp := loadFSExpected(t)
	h := &b.Hemis[RH]
	if h.NumVertices != 12 || len(h.Triangles) != 60 || h.White != nil || h.Pial == nil || h.Sphere == nil {
		t.Fatalf("rh: %d vertices, %d triangles, white %v", h.NumVertices, len(h.Triangles)/3, h.White != nil)
	}
	for i, v := range exp["ico.surf"].Coords {
		if math.Abs(float64(h.Inflated[i])-v) > 0.005 || math.Abs(float64(h.Pial[i])-v) > 0.005 {
			t.Fatalf("position %d = %v, %v; want %v within 0.005", i, h.Inflated[i], h.Pial[i], v)
		}
	}
	for i, v := range exp["ico.curv"].Values {
		if tol := max(math.Abs(v)/2048, 6e-8); math.Abs(float64(h.Sulc[i])-v) > tol || math.Abs(float64(h.Curv[i])-v) > tol {
			t.Fatalf("sulc/curv %d = %v, %v; want %v", i, h.Sulc[i], h.Curv[i], v)
		}
	}
	if len(h.FlatTriangles) != 3*12 || h.Flat[3*3] != 0 || h.Normals[SurfFlat] == nil {
		t.Errorf("flat: %d triangles, vertex 3 at %v", len(h.FlatTriangles)/3, h.Flat[9:12])
	}
	for k := range 3 {
		if got, want := float64(h.Flat[3*11+k]), exp["patch.flat"].Coords[3*9+k]; math.Abs(got-want) > 0.005 {
			t.Errorf("flat vertex 11 axis %d = %v, want %v", k, got, want)
		}
	}
	if l := h.Label("test"); l == nil || l.Values[3] != 255 || l.Values[11] != 9 || l.Names != nil {
		t.Errorf("labels %+v", l)
	}
	if b.FullVertices != FsaverageVertices || b.Sources == "" {
		t.Errorf("full vertices %d, sources %q", b.FullVertices, b.Sources)
	}
	got, err := DecodeBundle(bytes.NewReader(encode(t, b)))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, b) {
		t.Fatal("a built bundle differs from its decoded encoding")
	}

	// Inconsistent sources are refused, naming the files.
	if err := os.Remove(filepath.Join(dir, "fsaverage5/surf/rh.pial")); err != nil {
		t.Fatal(err)
	}
	if _, err := BuildBundle(dir, "fsaverage5"); err == nil || !strings.Contains(err.Error(), "lh.pial") || !strings.Contains(err.Error(), "rh's is not") {
		t.Errorf("missing rh.pial: %v", err)
	}
	os.Remove(filepath.Join(dir, "fsaverage5/surf/lh.pial"))
	raw, _ := os.ReadFile("testdata/fs/map_short.mgz") // 12 values, negative ones
	os.WriteFile(filepath.Join(dir, "fsaverage5/label/rh.test.mgz"), raw, 0o644)
	if _, err := BuildBundle(dir, "fsaverage5"); err == nil || !strings.Contains(err.Error(), "rh.test.mgz") {
		t.Errorf("negative labels: %v", err)
	}
	os.Remove(filepath.Join(dir, "fsaverage5/label/rh.test.mgz"))
	os.Remove(filepath.Join(dir, "fsaverage5/surf/rh.sulc"))
	if _, err := BuildBundle(dir, "fsaverage5"); err == nil || !strings.Contains(err.Error(), "sulcal depth") {
		t.Errorf("missing rh.sulc: %v", err)
	}
	if _, err := BuildBundle(dir, "fsaverage6"); err == nil || !strings.Contains(err.Error(), "no fsaverage6 inflated surface") {
		t.Errorf("missing resolution: %v", err)
	}
}

func TestLoadOrBuildRebuildsOnlyWhenSourcesChange(t *testing.T) {
	src := fsLayout(t)
	cache := filepath.Join(t.TempDir(), "bundles")
	path := filepath.Join(cache, "fsaverage5.ccmb")
	b1, err := LoadOrBuild(src, cache, "fsaverage5")
	if err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-time.Hour).Truncate(time.Second)
	if err := os.Chtimes(path, old, old); err != nil {
		t.Fatal(err)
	}
	b2, err := LoadOrBuild(src, cache, "fsaverage5")
	if err != nil {
		t.Fatal(err)
	}
	if st, _ := os.Stat(path); !st.ModTime().Equal(old) {
		t.Error("unchanged sources: the bundle was rewritten")
	}
	if !reflect.DeepEqual(b1, b2) {
		t.Error("cached bundle differs from the built one")
	}
	// Touching a source changes the fingerprint: rebuilt.
	newer := time.Now().Add(time.Hour)
	if err := os.Chtimes(filepath.Join(src, "fsaverage5/surf/lh.sulc"), newer, newer); err != nil {
		t.Fatal(err)
	}
	b3, err := LoadOrBuild(src, cache, "fsaverage5")
	if err != nil {
		t.Fatal(err)
	}
	if st, _ := os.Stat(path); st.ModTime().Equal(old) || b3.Sources == b1.Sources {
		t.Error("touched source: the bundle was not rebuilt")
	}
	// A corrupt cache file is rebuilt, not trusted.
	os.WriteFile(path, []byte("CCMB garbage"), 0o644)
	if _, err := LoadOrBuild(src, cache, "fsaverage5"); err != nil {
		t.Fatal(err)
	}
	if raw, _ := os.ReadFile(path); len(raw) < 100 {
		t.Error("corrupt cache file kept")
	}
}

func TestBuildAll(t *testing.T) {
	src := fsLayout(t)
	out := t.TempDir()
	res, err := BuildAll(src, out, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 1 || res[0].Name != "fsaverage5" || res[0].UpToDate || res[0].Files.GzipBytes == 0 || res[0].Files.RawBytes == 0 {
		t.Fatalf("first build: %+v", res)
	}
	raw, err := os.ReadFile(res[0].Files.Raw)
	if err != nil || int64(len(raw)) != res[0].Files.RawBytes {
		t.Fatalf("raw file: %d bytes, %v", len(raw), err)
	}
	f, err := os.Open(res[0].Files.Gzip)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if b, err := DecodeBundle(f); err != nil || !reflect.DeepEqual(b, res[0].Bundle) {
		t.Fatalf("gzip file decodes to a different bundle: %v", err)
	}
	if res, err = BuildAll(src, out, false); err != nil || !res[0].UpToDate {
		t.Fatalf("second build not up to date: %+v %v", res, err)
	}
	if res, err = BuildAll(src, out, true); err != nil || res[0].UpToDate {
		t.Fatalf("forced build skipped: %+v %v", res, err)
	}
	if _, err := BuildAll(t.TempDir(), out, false); err == nil || !strings.Contains(err.Error(), "holds none of fsaverage5, fsaverage6, fsaverage") {
		t.Fatalf("empty sources: %v", err)
	}
}

// TestBuildBundleFsaverage5 builds the real fsaverage5 bundle.
func TestBuildBundleFsaverage5(t *testing.T) {
	data := sharedData(t)
	ref := loadRealRef(t)
	start := time.Now()
	b, err := BuildBundle(data, "fsaverage5")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("fsaverage5 bundle built in %v", time.Since(start))
	wantFlat := [2]int{18654, 18790} // SOURCE.md
	for hi := range b.Hemis {
		h := &b.Hemis[hi]
		if h.NumVertices != 10242 || len(h.Triangles) != 3*20480 || len(h.FlatTriangles) != 3*wantFlat[hi] || h.Curv == nil {
			t.Fatalf("%s: %d vertices, %d triangles, %d flat triangles", HemiName(hi), h.NumVertices, len(h.Triangles)/3, len(h.FlatTriangles)/3)
		}
		for k := range NumSurfaces {
			if h.Positions(k) == nil || h.Normals[k] == nil {
				t.Errorf("%s: no %s surface or normals", HemiName(hi), SurfaceName(k))
			}
		}
		side, _ := sideNames(hi)
		src, err := ReadSurface(filepath.Join(data, "fsaverage5", "pial_"+side+".gii.gz"))
		if err != nil {
			t.Fatal(err)
		}
		for i, v := range src.Positions {
			if d := math.Abs(float64(v - h.Pial[i])); d > 0.005+1e-5 {
				t.Fatalf("%s pial value %d: %v in the bundle, %v in the file", HemiName(hi), i, h.Pial[i], v)
			}
		}
		// Sphere radius 100 (SOURCE.md).
		for i := 0; i < 3*h.NumVertices; i += 3 {
			x, y, z := float64(h.Sphere[i]), float64(h.Sphere[i+1]), float64(h.Sphere[i+2])
			if r := math.Sqrt(x*x + y*y + z*z); math.Abs(r-100) > 0.05 {
				t.Fatalf("%s sphere vertex %d at radius %v", HemiName(hi), i/3, r)
			}
		}
		hn := HemiName(hi)
		var classes []string
		for _, l := range h.Labels {
			classes = append(classes, l.Class)
		}
		if want := []string{"prf-visualrois", "streams", "highlevelvisual", "nsdgeneralRSC"}; !reflect.DeepEqual(classes, want) {
			t.Fatalf("%s label classes %v, want %v", hn, classes, want)
		}
		for _, l := range h.Labels {
			var want map[string]int
			if l.Class == "highlevelvisual" || l.Class == "nsdgeneralRSC" {
				dirn := map[string]string{"highlevelvisual": "nsd-fsaverage-labels", "nsdgeneralRSC": "algonauts2023"}[l.Class]
				want = ref.MGZ[dirn+"/"+hn+"."+l.Class+".mgz"].Counts5
			} else {
				want = ref.NPY[hn+"."+l.Class].Counts5
			}
			if got := counts(l.Values); !equalCounts(got, want) {
				t.Errorf("%s %s counts %v, numpy %v", hn, l.Class, got, want)
			}
		}
		if l := h.Label("highlevelvisual"); l.Names[3] != "V1" {
			t.Errorf("highlevelvisual names %v", l.Names)
		}
	}
	if b.FullVertices != FsaverageVertices {
		t.Errorf("FullVertices %d", b.FullVertices)
	}
	if v, ok := b.BundleVertex(RH, 10241); !ok || v != 10241 {
		t.Error("challenge vertex 10241 not mapped")
	}
	if _, ok := b.BundleVertex(RH, 10242); ok {
		t.Error("challenge vertex 10242 mapped into fsaverage5")
	}
	// Left hemisphere inflated x is negative on average, right positive.
	var lx, rx float64
	for i := 0; i < len(b.Hemis[0].Inflated); i += 3 {
		lx += float64(b.Hemis[0].Inflated[i])
		rx += float64(b.Hemis[1].Inflated[i])
	}
	if lx >= 0 || rx <= 0 {
		t.Errorf("mean x: lh %v rh %v, want lh < 0 < rh", lx, rx)
	}
	raw := encode(t, b)
	got, err := DecodeBundle(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, b) {
		t.Fatal("fsaverage5 bundle round trip differs")
	}
}

// TestBuildBundleFsaverage builds the real full fsaverage bundle with the
// flat patch.
func TestBuildBundleFsaverage(t *testing.T) {
	if testing.Short() {
		t.Skip("full fsaverage takes seconds")
	}
	data := sharedData(t)
	if !HasResolution(data, "fsaverage") {
		t.Skip("../shared/data/fsaverage absent")
	}
	b, err := BuildBundle(data, "fsaverage")
	if err != nil {
		t.Fatal(err)
	}
	wantPatch := [2]int{149297, 149765}
	for hi := range b.Hemis {
		h := &b.Hemis[hi]
		if h.NumVertices != FsaverageVertices || len(h.Triangles) != 3*327680 {
			t.Fatalf("%d vertices, %d triangles", h.NumVertices, len(h.Triangles)/3)
		}
		in := map[uint32]bool{}
		for _, v := range h.FlatTriangles {
			in[v] = true
		}
		// Every patch vertex lies in some flat triangle except a few
		// isolated ones; none outside the patch does.
		if len(in) > wantPatch[hi] || len(in) < wantPatch[hi]-100 {
			t.Errorf("%s: flat triangles use %d vertices, the patch has %d", HemiName(hi), len(in), wantPatch[hi])
		}
		for v := range in {
			if h.Flat[3*v+2] != 0 {
				t.Fatalf("%s: flat vertex %d has z %v", HemiName(hi), v, h.Flat[3*v+2])
			}
		}
		if l := h.Label("prf-visualrois"); l == nil || len(l.Values) != FsaverageVertices {
			t.Fatalf("%s: no full-resolution prf-visualrois labels", HemiName(hi))
		}
	}
}

func FuzzDecodeBundle(f *testing.F) {
	good := encode(f, tinyBundle())
	f.Add(good)
	f.Add(good[:len(good)/2])
	var gz bytes.Buffer
	tinyBundle().EncodeGzip(&gz)
	f.Add(gz.Bytes())
	f.Add([]byte("CCMB"))
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := DecodeBundle(bytes.NewReader(data))
		if err != nil {
			return
		}
		for i := range b.Hemis {
			if err := b.Hemis[i].Validate(); err != nil {
				t.Fatalf("decoded an invalid bundle: %v", err)
			}
		}
		// Whatever decodes must re-encode to a bundle that decodes the same.
		var buf bytes.Buffer
		if err := b.Encode(&buf); err != nil {
			t.Fatal(err)
		}
		again, err := DecodeBundle(&buf)
		if err != nil {
			t.Fatal(err)
		}
		if !bundlesEqual(again, b) {
			t.Fatal("re-encoding changed the bundle")
		}
	})
}

// FuzzDecodeBundleBody fuzzes the parser behind the checksum: the input is
// the part between the version and the CRC, which the test completes.
func FuzzDecodeBundleBody(f *testing.F) {
	good := encode(f, tinyBundle())
	f.Add(good[8 : len(good)-4])
	f.Add(good[8 : len(good)-40])
	f.Fuzz(func(t *testing.T, body []byte) {
		raw := append([]byte("CCMB\x02\x00\x00\x00"), body...)
		raw = binary.LittleEndian.AppendUint32(raw, crc32.ChecksumIEEE(raw))
		b, err := UnmarshalBundle(raw)
		if err != nil {
			return
		}
		again, err := UnmarshalBundle(encode(t, b))
		if err != nil {
			t.Fatal(err)
		}
		if !bundlesEqual(again, b) {
			t.Fatal("re-encoding changed the bundle")
		}
	})
}
