package meshes

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// sharedData returns ../shared/data next to the repository root, or skips.
func sharedData(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		p := filepath.Dir(dir)
		if p == dir {
			t.Skip("no go.mod above the test directory; cannot locate ../shared/data")
		}
		dir = p
	}
	data := filepath.Join(dir, "..", "shared", "data")
	if _, err := os.Stat(filepath.Join(data, "fsaverage5")); err != nil {
		t.Skipf("real meshes absent: %s/fsaverage5 not found (see its SOURCE.md for where the files come from)", data)
	}
	return data
}

type expectedArray struct {
	Intent string    `json:"intent"`
	Dims   []int     `json:"dims"`
	Values []float64 `json:"values"`
}

// TestReadGIfTISmall checks every encoding/byte-order/indexing-order
// variant against the values nibabel reads back from the same files.
func TestReadGIfTISmall(t *testing.T) {
	raw, err := os.ReadFile("testdata/small_expected.json")
	if err != nil {
		t.Fatal(err)
	}
	var want map[string][]expectedArray
	if err := json.Unmarshal(raw, &want); err != nil {
		t.Fatal(err)
	}
	files := map[string]string{
		"ascii":            "small_ascii.gii",
		"b64":              "small_b64.gii",
		"b64gz":            "small_b64gz.gii",
		"b64gz (gzipped)":  "small_b64gz.gii.gz",
		"b64gz_big":        "small_b64gz_big.gii",
		"b64_big_colmajor": "small_b64_big_colmajor.gii",
	}
	for name, file := range files {
		t.Run(name, func(t *testing.T) {
			key, _, _ := strings.Cut(name, " ")
			exp := want[key]
			if len(exp) != 3 {
				t.Fatalf("fixture for %s has %d arrays", key, len(exp))
			}
			g, err := ReadGIfTI(filepath.Join("testdata", file))
			if err != nil {
				t.Fatal(err)
			}
			if len(g.Arrays) != len(exp) {
				t.Fatalf("got %d arrays, want %d", len(g.Arrays), len(exp))
			}
			for i, e := range exp {
				a := g.Arrays[i]
				if a.Intent != e.Intent {
					t.Errorf("array %d intent %q, want %q", i, a.Intent, e.Intent)
				}
				if !equalInts(a.Dims, e.Dims) {
					t.Errorf("array %d dims %v, want %v", i, a.Dims, e.Dims)
				}
				var got []float64
				switch {
				case a.Float32 != nil:
					for _, v := range a.Float32 {
						got = append(got, float64(v))
					}
				case a.Int32 != nil:
					for _, v := range a.Int32 {
						got = append(got, float64(v))
					}
				}
				if len(got) != len(e.Values) {
					t.Fatalf("array %d has %d values, want %d", i, len(got), len(e.Values))
				}
				for j := range got {
					if got[j] != e.Values[j] {
						t.Errorf("array %d value %d = %v, want %v", i, j, got[j], e.Values[j])
					}
				}
			}
			if g.Arrays[0].Meta["GeometricType"] != "Inflated" {
				t.Errorf("metadata GeometricType = %q, want Inflated", g.Arrays[0].Meta["GeometricType"])
			}
			if g.Arrays[1].DataType != TypeInt32 || g.Arrays[0].DataType != TypeFloat32 {
				t.Errorf("data types %q, %q", g.Arrays[0].DataType, g.Arrays[1].DataType)
			}
		})
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

const docHead = `<?xml version="1.0" encoding="UTF-8"?><GIFTI Version="1.0" NumberOfDataArrays="2">`

func pointsArray(attrs, data string) string {
	return `<DataArray Intent="NIFTI_INTENT_POINTSET" DataType="NIFTI_TYPE_FLOAT32" ArrayIndexingOrder="RowMajorOrder" Dimensionality="2" Dim0="2" Dim1="3" Encoding="ASCII" Endian="LittleEndian" ` +
		attrs + `><Data>` + data + `</Data></DataArray>`
}

func trisArray(dim0, data string) string {
	return `<DataArray Intent="NIFTI_INTENT_TRIANGLE" DataType="NIFTI_TYPE_INT32" ArrayIndexingOrder="RowMajorOrder" Dimensionality="2" Dim0="` + dim0 +
		`" Dim1="3" Encoding="ASCII" Endian="LittleEndian"><Data>` + data + `</Data></DataArray>`
}

func TestDecodeGIfTIErrors(t *testing.T) {
	okPoints := pointsArray("", "0 0 0 1 1 1")
	cases := []struct {
		name, doc, wantErr string
	}{
		{"valid", docHead + okPoints + trisArray("1", "0 1 1") + `</GIFTI>`, ""},
		{"too few values", docHead + pointsArray("", "0 0 0 1 1") + `</GIFTI>`, "5 values"},
		{"too many values", docHead + pointsArray("", "0 0 0 1 1 1 2") + `</GIFTI>`, "7 values"},
		{"index out of range", docHead + okPoints + trisArray("1", "0 1 2") + `</GIFTI>`, "outside the point set"},
		{"negative index", docHead + okPoints + trisArray("1", "0 -1 1") + `</GIFTI>`, "outside the point set"},
		{"unsupported type", docHead + strings.Replace(okPoints, "NIFTI_TYPE_FLOAT32", "NIFTI_TYPE_FLOAT64", 1) + `</GIFTI>`, "unsupported DataType"},
		{"unsupported encoding", docHead + strings.Replace(okPoints, `Encoding="ASCII"`, `Encoding="Base32"`, 1) + `</GIFTI>`, "unsupported Encoding"},
		{"external without a name", docHead + strings.Replace(okPoints, `Encoding="ASCII"`, `Encoding="ExternalFileBinary"`, 1) + `</GIFTI>`, "without an ExternalFileName"},
		{"bad endian", docHead + strings.Replace(okPoints, `Endian="LittleEndian"`, `Endian="Middle"`, 1) + `</GIFTI>`, "unsupported Endian"},
		{"truncated base64", docHead + strings.Replace(pointsArray("", "AAAAAAAAAAAAAAAA"), `Encoding="ASCII"`, `Encoding="Base64Binary"`, 1) + `</GIFTI>`, "12 bytes, dimensions call for 24"},
		{"huge dims", docHead + strings.Replace(okPoints, `Dim0="2"`, `Dim0="999999999999"`, 1) + `</GIFTI>`, "exceed the limit"},
		{"negative dim", docHead + strings.Replace(okPoints, `Dim0="2"`, `Dim0="-2"`, 1) + `</GIFTI>`, "negative"},
		{"truncated XML", docHead + okPoints, "parse XML"},
		{"not XML", "hello", "parse XML"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := DecodeGIfTI(strings.NewReader(c.doc))
			switch {
			case c.wantErr == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case c.wantErr != "" && err == nil:
				t.Fatalf("no error, want one containing %q", c.wantErr)
			case c.wantErr != "" && !strings.Contains(err.Error(), c.wantErr):
				t.Fatalf("error %q does not contain %q", err, c.wantErr)
			}
		})
	}
}

func TestDecodeGIfTITruncatedGzip(t *testing.T) {
	raw, err := os.ReadFile("testdata/small_b64gz.gii.gz")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := DecodeGIfTI(bytes.NewReader(raw[:len(raw)/2])); err == nil {
		t.Fatal("half a gzip file decoded without error")
	}
	// Compressed data with the wrong length inside the XML.
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(make([]byte, 20))
	zw.Close()
	doc := docHead + strings.Replace(pointsArray("", b64(buf.Bytes())), `Encoding="ASCII"`, `Encoding="GZipBase64Binary"`, 1) + `</GIFTI>`
	_, err = DecodeGIfTI(strings.NewReader(doc))
	if err == nil || !strings.Contains(err.Error(), "truncated: 20 bytes") {
		t.Fatalf("error %v, want a truncation error", err)
	}
}

type fsRef struct {
	N        int       `json:"n"`
	T        int       `json:"t"`
	First    []float64 `json:"first"`
	Last     []float64 `json:"last"`
	Sum      []float64 `json:"sum"`
	Min      []float64 `json:"min"`
	Max      []float64 `json:"max"`
	TriFirst []int     `json:"tri_first"`
	TriSum   int64     `json:"tri_sum"`
}

type fsShapeRef struct {
	N     int       `json:"n"`
	First []float64 `json:"first"`
	Sum   float64   `json:"sum"`
}

// TestReadRealFsaverage5 compares the real fsaverage5 meshes with numbers
// nibabel computed from the same files.
func TestReadRealFsaverage5(t *testing.T) {
	data := sharedData(t)
	raw, err := os.ReadFile("testdata/fsaverage5_ref.json")
	if err != nil {
		t.Fatal(err)
	}
	var ref map[string]json.RawMessage
	if err := json.Unmarshal(raw, &ref); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"infl_left", "infl_right", "pial_left", "pial_right"} {
		t.Run(name, func(t *testing.T) {
			var r fsRef
			if err := json.Unmarshal(ref[name], &r); err != nil {
				t.Fatal(err)
			}
			s, err := ReadSurface(filepath.Join(data, "fsaverage5", name+".gii.gz"))
			if err != nil {
				t.Fatal(err)
			}
			if s.NumVertices() != 10242 || len(s.Triangles) != 3*20480 || r.N != 10242 || r.T != 20480 {
				t.Fatalf("got %d vertices, %d triangles; want 10242, 20480 (reference %d, %d)", s.NumVertices(), len(s.Triangles)/3, r.N, r.T)
			}
			for i, v := range r.First {
				if float64(s.Positions[i]) != v {
					t.Errorf("position %d = %v, want %v", i, s.Positions[i], v)
				}
			}
			for i, v := range r.Last {
				if float64(s.Positions[3*(r.N-1)+i]) != v {
					t.Errorf("last position %d = %v, want %v", i, s.Positions[3*(r.N-1)+i], v)
				}
			}
			var sum [3]float64
			mn := [3]float64{math.Inf(1), math.Inf(1), math.Inf(1)}
			mx := [3]float64{math.Inf(-1), math.Inf(-1), math.Inf(-1)}
			for i, v := range s.Positions {
				sum[i%3] += float64(v)
				mn[i%3] = min(mn[i%3], float64(v))
				mx[i%3] = max(mx[i%3], float64(v))
			}
			for k := range 3 {
				if math.Abs(sum[k]-r.Sum[k]) > 1e-6*max(1, math.Abs(r.Sum[k])) || mn[k] != r.Min[k] || mx[k] != r.Max[k] {
					t.Errorf("axis %d: sum %v min %v max %v, want %v %v %v", k, sum[k], mn[k], mx[k], r.Sum[k], r.Min[k], r.Max[k])
				}
			}
			var tsum int64
			for _, v := range s.Triangles {
				tsum += int64(v)
			}
			if tsum != r.TriSum {
				t.Errorf("triangle index sum %d, want %d", tsum, r.TriSum)
			}
			for i, v := range r.TriFirst {
				if int(s.Triangles[i]) != v {
					t.Errorf("triangle index %d = %d, want %d", i, s.Triangles[i], v)
				}
			}
		})
	}
	for _, name := range []string{"sulc_left", "sulc_right"} {
		t.Run(name, func(t *testing.T) {
			var r fsShapeRef
			if err := json.Unmarshal(ref[name], &r); err != nil {
				t.Fatal(err)
			}
			s, err := ReadShape(filepath.Join(data, "fsaverage5", name+".gii.gz"))
			if err != nil {
				t.Fatal(err)
			}
			if len(s) != 10242 || r.N != 10242 {
				t.Fatalf("got %d values, want 10242", len(s))
			}
			var sum float64
			for _, v := range s {
				sum += float64(v)
			}
			if math.Abs(sum-r.Sum) > 1e-6*max(1, math.Abs(r.Sum)) {
				t.Errorf("sum %v, want %v", sum, r.Sum)
			}
			for i, v := range r.First {
				if float64(s[i]) != v {
					t.Errorf("value %d = %v, want %v", i, s[i], v)
				}
			}
		})
	}
	g, err := ReadGIfTI(filepath.Join(data, "fsaverage5", "infl_left.gii.gz"))
	if err != nil {
		t.Fatal(err)
	}
	if got := g.Arrays[0].Meta["GeometricType"]; got != "Inflated" {
		t.Errorf("GeometricType metadata %q, want Inflated", got)
	}
	if got := g.Arrays[0].Meta["AnatomicalStructurePrimary"]; got != "CortexLeft" {
		t.Errorf("AnatomicalStructurePrimary metadata %q, want CortexLeft", got)
	}
}

func FuzzReadGIfTI(f *testing.F) {
	for _, file := range []string{"small_ascii.gii", "small_b64.gii", "small_b64gz.gii", "small_b64gz_big.gii", "small_b64_big_colmajor.gii", "small_b64gz.gii.gz"} {
		raw, err := os.ReadFile(filepath.Join("testdata", file))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(raw)
	}
	f.Add([]byte(docHead + pointsArray("", "0 0 0 1 1 1") + trisArray("1", "0 1 1") + `</GIFTI>`))
	f.Fuzz(func(t *testing.T, data []byte) {
		g, err := DecodeGIfTI(bytes.NewReader(data))
		if err != nil {
			return
		}
		for _, a := range g.Arrays {
			if n := a.Len(); len(a.Float32)+len(a.Int32) != n {
				t.Fatalf("array %s dims %v holds %d values", a.Intent, a.Dims, len(a.Float32)+len(a.Int32))
			}
		}
	})
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }
