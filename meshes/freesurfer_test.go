package meshes

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"cortexcast/backend/npy"
)

// fsExpected is testdata/fs/expected.json, written by
// scripts/fixtures/freesurfer.py with nibabel.
type fsExpected struct {
	Coords     []float64      `json:"coords"`
	Faces      []int          `json:"faces"`
	Stamp      string         `json:"stamp"`
	VolumeInfo map[string]any `json:"volume_info"`
	Values     []float64      `json:"values"`
	Vertices   []int          `json:"vertices"`
	Border     []bool         `json:"border"`
	Dims       []int          `json:"dims"`
}

func loadFSExpected(t testing.TB) map[string]fsExpected {
	t.Helper()
	raw, err := os.ReadFile("testdata/fs/expected.json")
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]fsExpected
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func equalF32(t *testing.T, what string, got []float32, want []float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	for i := range got {
		if float64(got[i]) != want[i] {
			t.Fatalf("%s[%d] = %v, want %v", what, i, got[i], want[i])
		}
	}
}

func TestFreeSurferSurfaceMatchesNibabel(t *testing.T) {
	exp := loadFSExpected(t)
	for _, name := range []string{"ico.surf", "ico.surf.gz", "ico_tags.surf"} {
		t.Run(name, func(t *testing.T) {
			s, err := ReadFreeSurferSurface(filepath.Join("testdata/fs", name))
			if err != nil {
				t.Fatal(err)
			}
			e := exp[name]
			equalF32(t, "positions", s.Positions, e.Coords)
			if len(s.Triangles) != len(e.Faces) || s.NumVertices() != 12 || len(s.Triangles) != 60 {
				t.Fatalf("%d vertices, %d triangle indices; want 12, 60", s.NumVertices(), len(s.Triangles))
			}
			for i, v := range e.Faces {
				if int(s.Triangles[i]) != v {
					t.Fatalf("triangle index %d = %d, want %d", i, s.Triangles[i], v)
				}
			}
			if s.CreatedBy != e.Stamp {
				t.Errorf("created by %q, want %q", s.CreatedBy, e.Stamp)
			}
			if name == "ico_tags.surf" {
				if s.Meta["filename"] != "vol.nii" || s.Meta["cras"] != "0.5 -17.25 18" || s.Meta["volume"] != "256 256 256" {
					t.Errorf("volume info %v", s.Meta)
				}
				if len(s.Meta) != len(e.VolumeInfo) {
					t.Errorf("volume info has %d keys, nibabel %d", len(s.Meta), len(e.VolumeInfo))
				}
			} else if s.Meta != nil {
				t.Errorf("volume info %v in a file without it", s.Meta)
			}
		})
	}
}

func TestCurvMatchesNibabel(t *testing.T) {
	exp := loadFSExpected(t)
	for _, name := range []string{"ico.curv", "ico.curv.gz"} {
		v, err := ReadCurv(filepath.Join("testdata/fs", name))
		if err != nil {
			t.Fatal(err)
		}
		equalF32(t, name, v, exp[name].Values)
		if math.Signbit(float64(v[4])) != true {
			t.Errorf("%s: value 4 lost the sign of -0", name)
		}
	}
}

func TestPatchMatchesFixture(t *testing.T) {
	exp := loadFSExpected(t)
	for _, name := range []string{"patch.flat", "patch.flat.gz", "patch.3d", "patch.3d.gz"} {
		p, err := ReadPatch(filepath.Join("testdata/fs", name))
		if err != nil {
			t.Fatal(err)
		}
		e := exp[strings.TrimSuffix(name, ".gz")]
		equalF32(t, name, p.Positions, e.Coords)
		for i, v := range e.Vertices {
			if int(p.Vertices[i]) != v || p.Border[i] != e.Border[i] {
				t.Fatalf("%s point %d: vertex %d border %v, want %d %v", name, i, p.Vertices[i], p.Border[i], v, e.Border[i])
			}
		}
		pos, in, err := p.Embed(12)
		if err != nil {
			t.Fatal(err)
		}
		if in[3] || in[6] || !in[0] || !in[11] || pos[3*3] != 0 || pos[3*11] != p.Positions[3*9] {
			t.Fatalf("%s: embedding wrong: in %v", name, in)
		}
		if _, _, err := p.Embed(11); err == nil || !strings.Contains(err.Error(), "vertex 11") {
			t.Fatalf("%s: embedding into 11 vertices: %v", name, err)
		}
	}
	// Icosahedron triangles avoiding vertices 3 and 6.
	s, err := ReadFreeSurferSurface("testdata/fs/ico.surf")
	if err != nil {
		t.Fatal(err)
	}
	p, _ := ReadPatch("testdata/fs/patch.flat")
	_, in, _ := p.Embed(12)
	sub := TrianglesWithin(s.Triangles, in)
	// 20 faces; vertex 3 is in 5, vertex 6 in 5, and they share 2 (3,2,6 and 3,6,8).
	if len(sub) != 3*(20-5-5+2) {
		t.Fatalf("%d triangles within the patch, want 12", len(sub)/3)
	}
}

func TestMGHMatchesNibabel(t *testing.T) {
	exp := loadFSExpected(t)
	types := map[string]int{"uchar": MGHUChar, "int": MGHInt, "float": MGHFloat, "short": MGHShort}
	for tn, typ := range types {
		for _, ext := range []string{"mgh", "mgz"} {
			name := "map_" + tn + "." + ext
			m, err := ReadMGH(filepath.Join("testdata/fs", name))
			if err != nil {
				t.Fatal(err)
			}
			e := exp[name]
			if m.Type != typ {
				t.Errorf("%s: type %d, want %d", name, m.Type, typ)
			}
			for i, d := range e.Dims {
				if m.Dims[i] != d {
					t.Errorf("%s: dims %v, want %v", name, m.Dims, e.Dims)
				}
			}
			if len(m.Data) != len(e.Values) {
				t.Fatalf("%s: %d values, want %d", name, len(m.Data), len(e.Values))
			}
			for i, v := range e.Values {
				if m.Data[i] != v {
					t.Fatalf("%s value %d = %v, want %v", name, i, m.Data[i], v)
				}
			}
			if _, err := m.VertexValues(12); err != nil {
				t.Errorf("%s: %v", name, err)
			}
			if _, err := m.VertexValues(13); err == nil || !strings.Contains(err.Error(), "13 vertices") {
				t.Errorf("%s: VertexValues(13) error %v", name, err)
			}
		}
	}
	if _, err := ReadLabelsMGH("testdata/fs/map_uchar.mgz"); err != nil {
		t.Errorf("uchar labels: %v", err)
	}
	for _, name := range []string{"map_int.mgh", "map_short.mgh", "map_float.mgh"} {
		if _, err := ReadLabelsMGH(filepath.Join("testdata/fs", name)); err == nil {
			t.Errorf("%s: negative or fractional labels accepted", name)
		}
	}
}

// be builds big-endian binary content.
func be(parts ...any) []byte {
	var b bytes.Buffer
	for _, p := range parts {
		switch v := p.(type) {
		case string:
			b.WriteString(v)
		case []byte:
			b.Write(v)
		default:
			binary.Write(&b, binary.BigEndian, v)
		}
	}
	return b.Bytes()
}

func surfBytes(nv, nf int32, coords []float32, faces []int32) []byte {
	return be([]byte{0xff, 0xff, 0xfe}, "created by test\n\n", nv, nf, coords, faces)
}

func mghBytes(dims [4]int32, typ int32, data []byte) []byte {
	h := be(int32(1), dims, typ, int32(0), int16(0))
	h = append(h, make([]byte, mghHeaderBytes-len(h))...)
	return append(h, data...)
}

func TestFreeSurferReadersRefuse(t *testing.T) {
	tri := []float32{0, 0, 0, 1, 0, 0, 0, 1, 0}
	cases := []struct {
		name string
		dec  func([]byte) error
		data []byte
		want string
	}{
		{"surf empty", decSurf, nil, "too short"},
		{"surf quad", decSurf, []byte{0xff, 0xff, 0xff, 0}, "quad surface"},
		{"surf magic", decSurf, []byte{1, 2, 3, 4}, "want 0xfffffe"},
		{"surf no line end", decSurf, be([]byte{0xff, 0xff, 0xfe}, "created by"), "no end of line"},
		{"surf no counts", decSurf, be([]byte{0xff, 0xff, 0xfe}, "c\n\n", int32(3)), "need 8 for the counts"},
		{"surf negative", decSurf, surfBytes(-1, 0, nil, nil), "negative counts"},
		{"surf truncated", decSurf, surfBytes(3, 2, tri, []int32{0, 1, 2}), "2 faces need 60 bytes, 48 remain"},
		{"surf index", decSurf, surfBytes(3, 1, tri, []int32{0, 1, 3}), "face 0 vertex index 3 outside 3 vertices"},
		{"surf negative index", decSurf, surfBytes(3, 1, tri, []int32{0, -1, 2}), "vertex index -1"},
		{"curv short", decCurv, []byte{0xff, 0xff, 0xff}, "too short"},
		{"curv old", decCurv, be([]byte{0, 0, 3}, []byte{0, 0, 1}, []byte{0, 0, 0, 0, 0, 0, 0, 0, 0}), "old format"},
		{"curv vpv", decCurv, be([]byte{0xff, 0xff, 0xff}, int32(1), int32(0), int32(2), float32(1)), "2 values per vertex"},
		{"curv truncated", decCurv, be([]byte{0xff, 0xff, 0xff}, int32(3), int32(0), int32(1), float32(1)), "3 vertices need 12 bytes, 4 remain"},
		{"curv negative", decCurv, be([]byte{0xff, 0xff, 0xff}, int32(-3), int32(0), int32(1)), "negative"},
		{"patch short", decPatch, be(int32(-1)), "too short"},
		{"patch old", decPatch, be(int32(2), int32(1)), "want -1"},
		{"patch truncated", decPatch, be(int32(-1), int32(2), int32(1), float32(0), float32(0), float32(0)), "2 points need 32 bytes, 16 remain"},
		{"patch zero vno", decPatch, be(int32(-1), int32(1), int32(0), float32(0), float32(0), float32(0)), "vertex number 0"},
		{"patch duplicate", decPatch, be(int32(-1), int32(2), int32(5), float32(0), float32(0), float32(0), int32(-5), float32(0), float32(0), float32(0)), "vertex 4 appears twice"},
		{"patch negative count", decPatch, be(int32(-1), int32(-2)), "negative point count"},
		{"mgh short", decMGH, make([]byte, 100), "too short"},
		{"mgh version", decMGH, be(int32(2), make([]byte, 300)), "version 2"},
		{"mgh zero dim", decMGH, mghBytes([4]int32{3, 0, 1, 1}, MGHFloat, nil), "dimension 1 is 0"},
		{"mgh type", decMGH, mghBytes([4]int32{1, 1, 1, 1}, 2, make([]byte, 8)), "data type 2 not supported"},
		{"mgh truncated", decMGH, mghBytes([4]int32{3, 1, 1, 1}, MGHFloat, make([]byte, 8)), "need 12 bytes of data, 8 remain"},
		{"mgh huge", decMGH, mghBytes([4]int32{1 << 30, 1 << 30, 1, 1}, MGHUChar, nil), "exceed the limit"},
		{"gzip garbage", decMGH, []byte{0x1f, 0x8b, 0, 0}, "gzip"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := c.dec(c.data)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want one containing %q", err, c.want)
			}
		})
	}
}

func decSurf(b []byte) error  { _, err := DecodeFreeSurferSurface(bytes.NewReader(b)); return err }
func decCurv(b []byte) error  { _, err := DecodeCurv(bytes.NewReader(b)); return err }
func decPatch(b []byte) error { _, err := DecodePatch(bytes.NewReader(b)); return err }
func decMGH(b []byte) error   { _, err := DecodeMGH(bytes.NewReader(b)); return err }

func TestReadErrorsNameTheFile(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "lh.broken")
	if err := os.WriteFile(bad, []byte{1, 2, 3, 4, 5}, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, read := range []func(string) error{
		func(p string) error { _, err := ReadFreeSurferSurface(p); return err },
		func(p string) error { _, err := ReadCurv(p); return err },
		func(p string) error { _, err := ReadPatch(p); return err },
		func(p string) error { _, err := ReadMGH(p); return err },
		func(p string) error { _, err := ReadLabelsNpy(p); return err },
	} {
		if err := read(bad); err == nil || !strings.Contains(err.Error(), bad) {
			t.Errorf("error %v does not name %s", err, bad)
		}
	}
}

func TestLabelsNpy(t *testing.T) {
	var buf bytes.Buffer
	if err := npy.EncodeInt64(&buf, []int64{0, 3, 7, 65535}, []int{4}); err != nil {
		t.Fatal(err)
	}
	l, err := DecodeLabelsNpy(bytes.NewReader(buf.Bytes()))
	if err != nil || len(l) != 4 || l[1] != 3 || l[3] != 65535 {
		t.Fatalf("labels %v, %v", l, err)
	}
	for _, c := range []struct {
		vals  []int64
		shape []int
		want  string
	}{
		{[]int64{0, -1}, []int{2}, "label -1"},
		{[]int64{0, 65536}, []int{2}, "label 65536"},
		{[]int64{0, 1, 2, 3}, []int{2, 2}, "shape [2 2]"},
	} {
		buf.Reset()
		if err := npy.EncodeInt64(&buf, c.vals, c.shape); err != nil {
			t.Fatal(err)
		}
		if _, err := DecodeLabelsNpy(bytes.NewReader(buf.Bytes())); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v %v: error %v, want %q", c.vals, c.shape, err, c.want)
		}
	}
}

// realRef is testdata/fs/real_ref.json: numbers nibabel and numpy computed
// from the files in ../shared/data.
type realRef struct {
	Sulc map[string]struct {
		N     int       `json:"n"`
		Sum   float64   `json:"sum"`
		Min   float64   `json:"min"`
		Max   float64   `json:"max"`
		First []float64 `json:"first"`
		Last  float64   `json:"last"`
	} `json:"sulc"`
	Patch map[string]struct {
		Npts     int       `json:"npts"`
		Border   int       `json:"border"`
		VnoSum   int64     `json:"vno_sum"`
		Min      []float64 `json:"min"`
		Max      []float64 `json:"max"`
		FirstVno int       `json:"first_vno"`
		First    []float64 `json:"first"`
	} `json:"patch"`
	MGZ map[string]struct {
		Shape   []int          `json:"shape"`
		Counts  map[string]int `json:"counts"`
		Counts5 map[string]int `json:"counts_fsaverage5"`
	} `json:"mgz"`
	NPY map[string]struct {
		Counts  map[string]int `json:"counts"`
		Counts5 map[string]int `json:"counts_fsaverage5"`
	} `json:"npy"`
	SphereDiff float64 `json:"sphere5_vs_full_max_abs_diff"`
}

func loadRealRef(t testing.TB) *realRef {
	t.Helper()
	raw, err := os.ReadFile("testdata/fs/real_ref.json")
	if err != nil {
		t.Fatal(err)
	}
	var r realRef
	if err := json.Unmarshal(raw, &r); err != nil {
		t.Fatal(err)
	}
	return &r
}

func counts(v []uint16) map[string]int {
	m := map[string]int{}
	for _, x := range v {
		m[itoa(int(x))]++
	}
	return m
}

func itoa(i int) string {
	b, _ := json.Marshal(i)
	return string(b)
}

func equalCounts(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// TestSulcMatchesNibabel reads the real sulcal depth GIfTI files and
// compares them with the values nibabel read from the same files.
func TestSulcMatchesNibabel(t *testing.T) {
	data := sharedData(t)
	ref := loadRealRef(t)
	if len(ref.Sulc) == 0 {
		t.Fatal("real_ref.json has no sulc entries: rerun scripts/fixtures/freesurfer.py with ../shared/data present")
	}
	for key, r := range ref.Sulc {
		res, side, _ := strings.Cut(key, "/")
		v, err := ReadShape(filepath.Join(data, res, "sulc_"+side+".gii.gz"))
		if err != nil {
			t.Fatal(err)
		}
		if len(v) != r.N {
			t.Fatalf("%s: %d values, want %d", key, len(v), r.N)
		}
		var sum float64
		mn, mx := math.Inf(1), math.Inf(-1)
		for _, x := range v {
			sum += float64(x)
			mn, mx = min(mn, float64(x)), max(mx, float64(x))
		}
		if math.Abs(sum-r.Sum) > 1e-9*math.Abs(r.Sum)+1e-6 || mn != r.Min || mx != r.Max || float64(v[len(v)-1]) != r.Last {
			t.Errorf("%s: sum %v min %v max %v last %v, nibabel %v %v %v %v", key, sum, mn, mx, v[len(v)-1], r.Sum, r.Min, r.Max, r.Last)
		}
		equalF32(t, key, v[:len(r.First)], r.First)
	}
}

// TestRealPatches checks the real fsaverage patches against SOURCE.md and
// numpy's reading of them.
func TestRealPatches(t *testing.T) {
	data := sharedData(t)
	ref := loadRealRef(t)
	wantN := map[string]int{"lh": 149297, "rh": 149765}
	// SOURCE.md: lh x ±153, y ±188; rh x ±146, y ±165 (mm).
	wantExt := map[string][2]float64{"lh": {153, 188}, "rh": {146, 165}}
	for _, hemi := range []string{"lh", "rh"} {
		for _, kind := range []string{"flat", "3d"} {
			path := filepath.Join(data, "fsaverage", hemi+".cortex.patch."+kind+".gz")
			if _, err := os.Stat(path); err != nil {
				t.Skipf("%s absent", path)
			}
			p, err := ReadPatch(path)
			if err != nil {
				t.Fatal(err)
			}
			r := ref.Patch[hemi+"."+kind]
			if len(p.Vertices) != wantN[hemi] || r.Npts != wantN[hemi] {
				t.Fatalf("%s.%s: %d points, want %d (numpy %d)", hemi, kind, len(p.Vertices), wantN[hemi], r.Npts)
			}
			var vsum int64
			border := 0
			mn := [3]float64{math.Inf(1), math.Inf(1), math.Inf(1)}
			mx := [3]float64{math.Inf(-1), math.Inf(-1), math.Inf(-1)}
			for i, v := range p.Vertices {
				vsum += int64(v)
				if p.Border[i] {
					border++
				}
				for k := range 3 {
					x := float64(p.Positions[3*i+k])
					mn[k], mx[k] = min(mn[k], x), max(mx[k], x)
				}
			}
			if vsum != r.VnoSum || border != r.Border || int(p.Vertices[0]) != r.FirstVno {
				t.Errorf("%s.%s: vertex sum %d border %d first %d, numpy %d %d %d", hemi, kind, vsum, border, p.Vertices[0], r.VnoSum, r.Border, r.FirstVno)
			}
			for k := range 3 {
				if mn[k] != r.Min[k] || mx[k] != r.Max[k] {
					t.Errorf("%s.%s axis %d: %v..%v, numpy %v..%v", hemi, kind, k, mn[k], mx[k], r.Min[k], r.Max[k])
				}
			}
			equalF32(t, hemi+"."+kind+" first point", p.Positions[:3], r.First)
			if kind == "flat" {
				for k, e := range wantExt[hemi] {
					if math.Abs(mx[k]-e) > 1 || math.Abs(-mn[k]-e) > 1 {
						t.Errorf("%s flat axis %d extent %v..%v, SOURCE.md says ±%v mm", hemi, k, mn[k], mx[k], e)
					}
				}
				if mn[2] != 0 || mx[2] != 0 {
					t.Errorf("%s flat z %v..%v, want 0", hemi, mn[2], mx[2])
				}
			}
			if _, _, err := p.Embed(FsaverageVertices); err != nil {
				t.Error(err)
			}
		}
	}
}

// TestRealMGZ reads the real MGZ label maps: 163842 values, counts as in
// their SOURCE.md (and as nibabel counts them).
func TestRealMGZ(t *testing.T) {
	data := sharedData(t)
	ref := loadRealRef(t)
	source := map[string]map[string]int{
		"algonauts2023/lh.nsdgeneralRSC.mgz":          {"0": 163842 - 543, "1": 543},
		"algonauts2023/rh.nsdgeneralRSC.mgz":          {"0": 163842 - 1021, "1": 1021},
		"nsd-fsaverage-labels/lh.highlevelvisual.mgz": {"0": 151066, "1": 2736, "2": 6218, "3": 1451, "4": 1227, "5": 1144},
		"nsd-fsaverage-labels/rh.highlevelvisual.mgz": {"0": 151134, "1": 2452, "2": 6058, "3": 1347, "4": 1600, "5": 1251},
	}
	for rel, want := range source {
		path := filepath.Join(data, rel)
		if _, err := os.Stat(path); err != nil {
			t.Skipf("%s absent", path)
		}
		m, err := ReadMGH(path)
		if err != nil {
			t.Fatal(err)
		}
		if m.Type != MGHFloat || m.Dims != [4]int{FsaverageVertices, 1, 1, 1} {
			t.Errorf("%s: type %d dims %v", rel, m.Type, m.Dims)
		}
		l, err := ReadLabelsMGH(path)
		if err != nil {
			t.Fatal(err)
		}
		if len(l) != FsaverageVertices {
			t.Fatalf("%s: %d values", rel, len(l))
		}
		if got := counts(l); !equalCounts(got, want) || !equalCounts(got, ref.MGZ[rel].Counts) {
			t.Errorf("%s: counts %v, SOURCE.md %v, nibabel %v", rel, got, want, ref.MGZ[rel].Counts)
		}
	}
}

// TestRealNpyLabels reads the Algonauts fsaverage-space masks.
func TestRealNpyLabels(t *testing.T) {
	data := sharedData(t)
	ref := loadRealRef(t)
	for key, r := range ref.NPY {
		hemi, class, _ := strings.Cut(key, ".")
		path := filepath.Join(data, "algonauts2023", "roi_masks", hemi+"."+class+"_fsaverage_space.npy")
		l, err := ReadLabelsNpy(path)
		if err != nil {
			t.Fatal(err)
		}
		if len(l) != FsaverageVertices || !equalCounts(counts(l), r.Counts) {
			t.Errorf("%s: %d values, counts %v, numpy %v", key, len(l), counts(l), r.Counts)
		}
	}
}

// TestFsaverage5IsPrefixOfFsaverage checks the vertex mapping convention:
// fsaverage5's sphere vertices equal the first 10242 of fsaverage's.
func TestFsaverage5IsPrefixOfFsaverage(t *testing.T) {
	data := sharedData(t)
	full := filepath.Join(data, "fsaverage", "sphere_left.gii.gz")
	if _, err := os.Stat(full); err != nil {
		t.Skipf("%s absent", full)
	}
	s5, err := ReadSurface(filepath.Join(data, "fsaverage5", "sphere_left.gii.gz"))
	if err != nil {
		t.Fatal(err)
	}
	s7, err := ReadSurface(full)
	if err != nil {
		t.Fatal(err)
	}
	if s5.NumVertices() != 10242 || s7.NumVertices() != FsaverageVertices || len(s7.Triangles) != 3*327680 {
		t.Fatalf("%d and %d vertices, %d triangles", s5.NumVertices(), s7.NumVertices(), len(s7.Triangles)/3)
	}
	worst := 0.0
	for i, v := range s5.Positions {
		worst = max(worst, math.Abs(float64(v-s7.Positions[i])))
	}
	if worst > 1e-4 || worst != loadRealRef(t).SphereDiff {
		t.Errorf("largest difference %v mm, nibabel %v", worst, loadRealRef(t).SphereDiff)
	}
}

func fixtureSeeds(f *testing.F, names ...string) {
	for _, n := range names {
		raw, err := os.ReadFile(filepath.Join("testdata/fs", n))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(raw)
	}
}

func FuzzDecodeFreeSurferSurface(f *testing.F) {
	fixtureSeeds(f, "ico.surf", "ico_tags.surf", "ico.surf.gz")
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := DecodeFreeSurferSurface(bytes.NewReader(data))
		if err != nil {
			return
		}
		for _, v := range s.Triangles {
			if int(v) >= s.NumVertices() {
				t.Fatalf("index %d outside %d vertices", v, s.NumVertices())
			}
		}
	})
}

func FuzzDecodeCurv(f *testing.F) {
	fixtureSeeds(f, "ico.curv", "ico.curv.gz")
	f.Fuzz(func(t *testing.T, data []byte) {
		v, err := DecodeCurv(bytes.NewReader(data))
		if err == nil && len(data) >= 15 && len(v) > len(data) {
			t.Fatalf("%d values from %d bytes", len(v), len(data))
		}
	})
}

func FuzzDecodePatch(f *testing.F) {
	fixtureSeeds(f, "patch.flat", "patch.3d.gz")
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := DecodePatch(bytes.NewReader(data))
		if err != nil {
			return
		}
		if len(p.Positions) != 3*len(p.Vertices) || len(p.Border) != len(p.Vertices) {
			t.Fatalf("%d positions, %d border flags for %d points", len(p.Positions), len(p.Border), len(p.Vertices))
		}
		for _, v := range p.Vertices {
			if v < 0 {
				t.Fatalf("negative vertex %d", v)
			}
		}
	})
}

func FuzzDecodeMGH(f *testing.F) {
	fixtureSeeds(f, "map_uchar.mgh", "map_int.mgz", "map_float.mgh", "map_short.mgz")
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := DecodeMGH(bytes.NewReader(data))
		if err != nil {
			return
		}
		if n := m.Dims[0] * m.Dims[1] * m.Dims[2] * m.Dims[3]; n != len(m.Data) {
			t.Fatalf("dims %v, %d values", m.Dims, len(m.Data))
		}
	})
}

func FuzzDecodeLabelsNpy(f *testing.F) {
	var buf bytes.Buffer
	npy.EncodeInt64(&buf, []int64{0, 1, 7, 2, 0}, []int{5})
	f.Add(buf.Bytes())
	buf.Reset()
	npy.EncodeFloat32(&buf, []float32{0, 1, 3}, []int{3, 1})
	f.Add(buf.Bytes())
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(buf.Bytes())
	zw.Close()
	f.Add(gz.Bytes())
	f.Fuzz(func(t *testing.T, data []byte) {
		l, err := DecodeLabelsNpy(bytes.NewReader(data))
		if err == nil && len(l) > len(data) {
			t.Fatalf("%d labels from %d bytes", len(l), len(data))
		}
	})
}

// TestGIfTIExternalFile reads a GIfTI whose arrays are in an external file
// (little-endian points, big-endian triangles at an offset), as nibabel
// reads it, and refuses external names that leave the directory.
func TestGIfTIExternalFile(t *testing.T) {
	exp := loadFSExpected(t)["ext.gii"]
	s, err := ReadSurface("testdata/fs/ext.gii")
	if err != nil {
		t.Fatal(err)
	}
	equalF32(t, "positions", s.Positions, exp.Coords)
	for i, v := range exp.Faces {
		if int(s.Triangles[i]) != v {
			t.Fatalf("triangle index %d = %d, want %d", i, s.Triangles[i], v)
		}
	}
	doc, err := os.ReadFile("testdata/fs/ext.gii")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := DecodeGIfTI(bytes.NewReader(doc)); err == nil || !strings.Contains(err.Error(), "ReadGIfTI") {
		t.Errorf("DecodeGIfTI of an external-data file: %v", err)
	}
	dir := t.TempDir()
	dat, _ := os.ReadFile("testdata/fs/ext.dat")
	for _, c := range []struct {
		name, doc string
		dat       []byte
		want      string
	}{
		{"escape", strings.ReplaceAll(string(doc), `"ext.dat"`, `"../ext.dat"`), dat, "not a relative path inside"},
		{"absolute", strings.ReplaceAll(string(doc), `"ext.dat"`, `"/etc/hostname"`), dat, "not a relative path inside"},
		{"short", string(doc), dat[:100], "has 100 bytes, the array needs 144 at offset 0"},
		{"missing", strings.ReplaceAll(string(doc), `"ext.dat"`, `"none.dat"`), dat, "none.dat"},
		{"offset", strings.ReplaceAll(string(doc), `ExternalFileOffset="0"`, `ExternalFileOffset="-4"`), dat, "ExternalFileOffset"},
	} {
		t.Run(c.name, func(t *testing.T) {
			gii := filepath.Join(dir, c.name+".gii")
			os.WriteFile(gii, []byte(c.doc), 0o644)
			os.WriteFile(filepath.Join(dir, "ext.dat"), c.dat, 0o644)
			if _, err := ReadGIfTI(gii); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want one containing %q", err, c.want)
			}
		})
	}
}
