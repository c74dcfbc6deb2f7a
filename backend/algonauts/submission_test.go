package algonauts

import (
	"archive/zip"
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"cortexcast/backend/npy"
)

// predictions returns rows × cols deterministic float32 values covering
// negative, fractional and large magnitudes.
func predictions(seed, rows, cols int) []float32 {
	v := make([]float32, rows*cols)
	for i := range v {
		v[i] = float32(math.Sin(float64(seed*7919+i)*0.37)) * float32(1+i%5) * 1e3
	}
	return v
}

// writeTestSubmission writes subjects with the given shapes into a new
// directory and returns it with the values written, by subject and hemi.
func writeTestSubmission(t *testing.T, shapes map[int]SubmissionShape) (string, map[int][2][]float32) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "submission")
	vals := map[int][2][]float32{}
	for s, sh := range shapes {
		lh, rh := predictions(2*s, sh.Rows, sh.Cols[0]), predictions(2*s+1, sh.Rows, sh.Cols[1])
		if err := WriteSubmission(dir, s, lh, rh, sh.Rows, sh.Cols); err != nil {
			t.Fatal(err)
		}
		vals[s] = [2][]float32{lh, rh}
	}
	return dir, vals
}

var testShapes = map[int]SubmissionShape{1: {Rows: 5, Cols: [2]int{7, 3}}, 2: {Rows: 4, Cols: [2]int{6, 9}}}

func TestWriteSubmissionRoundTrip(t *testing.T) {
	dir, vals := writeTestSubmission(t, testShapes)
	for s, sh := range testShapes {
		for i, h := range Hemis() {
			got, shape, err := npy.ReadFloat32(SubmissionPath(dir, s, h))
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(shape, []int{sh.Rows, sh.Cols[i]}) || !slices.Equal(got, vals[s][i]) {
				t.Errorf("subj%02d %s: shape %v, values equal %v", s, h, shape, slices.Equal(got, vals[s][i]))
			}
		}
	}
	rep, err := ValidateSubmission(dir, ValidateOptions{Expected: testShapes})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(rep.Subjects, []int{1, 2}) || len(rep.Files) != 4 || rep.ZipBytes != 0 || rep.MaxBytes != MaxSubmissionBytes {
		t.Errorf("report %+v", rep)
	}
	// Each file is the 128-byte header plus the float32 payload.
	want := int64(0)
	for _, sh := range testShapes {
		want += 2*128 + 4*int64(sh.Rows*(sh.Cols[0]+sh.Cols[1]))
	}
	if rep.RawBytes != want {
		t.Errorf("RawBytes %d, want %d", rep.RawBytes, want)
	}
	var b strings.Builder
	rep.WriteTo(&b)
	for _, s := range []string{"subj01/lh_pred_test.npy  <f4   (5, 7)", "(4, 9)", "valid\n"} {
		if !strings.Contains(b.String(), s) {
			t.Errorf("report text lacks %q:\n%s", s, b.String())
		}
	}
}

func TestWriteSubmissionErrors(t *testing.T) {
	nan := predictions(1, 2, 3)
	nan[4] = float32(math.NaN())
	inf := predictions(1, 2, 3)
	inf[0] = float32(math.Inf(-1))
	ok := predictions(1, 2, 3)
	for _, c := range []struct {
		name   string
		subj   int
		lh, rh []float32
		want   string
	}{
		{"subject 0", 0, ok, ok, "outside 1..99"},
		{"short lh", 1, ok[:5], ok, "lh: 5 values, want 2 test images × 3 vertices = 6"},
		{"nan rh", 1, ok, nan, "rh: prediction NaN at test image 2, vertex column 1"},
		{"inf lh", 1, inf, ok, "lh: prediction -Inf at test image 1, vertex column 0"},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			err := WriteSubmission(dir, c.subj, c.lh, c.rh, 2, [2]int{3, 3})
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want it to contain %q", err, c.want)
			}
			if _, err := os.Stat(SubjectDir(dir, 1)); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("a refused submission left %s (%v)", SubjectDir(dir, 1), err)
			}
		})
	}
}

func TestExpectedSubmission(t *testing.T) {
	ds, err := Open(writeTiny(t))
	if err != nil {
		t.Fatal(err)
	}
	got, err := ExpectedSubmission(ds, []int{1})
	if err != nil {
		t.Fatal(err)
	}
	want := SubmissionShape{Rows: 2, Cols: [2]int{len(tinyVertices[LH]), len(tinyVertices[RH])}}
	if len(got) != 1 || got[1] != want {
		t.Errorf("expected %v, want {1: %v}", got, want)
	}
	if _, err := ExpectedSubmission(ds, []int{2}); err == nil || !strings.Contains(err.Error(), "subject 2 is not in") {
		t.Errorf("subject 2: error %v", err)
	}
}

// mutate is a change to a valid submission directory that makes it
// invalid.
type mutate func(t *testing.T, dir string)

func writeNPY(t *testing.T, path, descr string, shape []int, payload []byte) {
	t.Helper()
	var b bytes.Buffer
	if err := npy.EncodeHeader(&b, descr, shape); err != nil {
		t.Fatal(err)
	}
	b.Write(payload)
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestValidateSubmissionProblems(t *testing.T) {
	lh1 := func(dir string) string { return SubmissionPath(dir, 1, LH) }
	for _, c := range []struct {
		name string
		mut  mutate
		opts ValidateOptions
		want string // a problem, as AllProblems words it
	}{
		{"missing file", func(t *testing.T, d string) { os.Remove(SubmissionPath(d, 2, RH)) }, ValidateOptions{},
			"subj02/rh_pred_test.npy: missing"},
		{"float64", func(t *testing.T, d string) {
			writeNPY(t, lh1(d), "<f8", []int{5, 7}, make([]byte, 8*35))
		}, ValidateOptions{}, "subj01/lh_pred_test.npy: dtype <f8, want <f4"},
		{"big endian", func(t *testing.T, d string) {
			writeNPY(t, lh1(d), ">f4", []int{5, 7}, make([]byte, 4*35))
		}, ValidateOptions{}, "subj01/lh_pred_test.npy: dtype >f4, want <f4"},
		{"1-d", func(t *testing.T, d string) {
			writeNPY(t, lh1(d), "<f4", []int{35}, make([]byte, 4*35))
		}, ValidateOptions{}, "subj01/lh_pred_test.npy: shape (35,) is 1-d, want 2-d"},
		{"empty", func(t *testing.T, d string) {
			writeNPY(t, lh1(d), "<f4", []int{0, 7}, nil)
		}, ValidateOptions{}, "subj01/lh_pred_test.npy: shape (0, 7) is empty"},
		{"truncated", func(t *testing.T, d string) {
			writeNPY(t, lh1(d), "<f4", []int{5, 7}, make([]byte, 4*34))
		}, ValidateOptions{}, "subj01/lh_pred_test.npy: not a readable .npy file"},
		{"nan and inf", func(t *testing.T, d string) {
			v := predictions(1, 5, 7)
			v[9], v[20] = float32(math.NaN()), float32(math.Inf(1))
			npy.WriteFloat32(lh1(d), v, []int{5, 7})
		}, ValidateOptions{}, "subj01/lh_pred_test.npy: 2 NaN/Inf value(s), the first at row 1, column 2"},
		{"rows differ", func(t *testing.T, d string) {
			npy.WriteFloat32(lh1(d), predictions(1, 6, 7), []int{6, 7})
		}, ValidateOptions{}, "subj01: lh has 6 rows (test images) but rh has 5"},
		{"wrong columns", func(t *testing.T, d string) {
			npy.WriteFloat32(lh1(d), predictions(1, 5, 8), []int{5, 8})
		}, ValidateOptions{Expected: testShapes}, "subj01/lh_pred_test.npy: shape (5, 8), want (5, 7): 5 test images × 7 lh challenge vertices"},
		{"missing subject", func(t *testing.T, d string) { os.RemoveAll(SubjectDir(d, 2)) },
			ValidateOptions{Expected: testShapes}, "subj02 is missing (the dataset has it)"},
		{"extra subject", func(t *testing.T, d string) {
			WriteSubmission(d, 9, predictions(1, 1, 1), predictions(1, 1, 1), 1, [2]int{1, 1})
		}, ValidateOptions{Expected: testShapes}, "subj09 is not expected (the expected subjects are [1 2])"},
		{"no subjects", func(t *testing.T, d string) {
			os.RemoveAll(SubjectDir(d, 1))
			os.RemoveAll(SubjectDir(d, 2))
		}, ValidateOptions{}, "no subjNN folders at the top level"},
		{"over the limit", func(t *testing.T, d string) {}, ValidateOptions{MaxBytes: 500}, "over the 500-byte limit"},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir, _ := writeTestSubmission(t, testShapes)
			c.mut(t, dir)
			rep, err := ValidateSubmission(dir, c.opts)
			if !errors.Is(err, ErrInvalidSubmission) {
				t.Fatalf("error %v, want ErrInvalidSubmission", err)
			}
			if rep == nil || rep.OK() || !slices.ContainsFunc(rep.AllProblems(), func(p string) bool { return strings.Contains(p, c.want) }) {
				t.Fatalf("problems %q, want %q", rep.AllProblems(), c.want)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q does not name the problem %q", err, c.want)
			}
			if len(rep.AllProblems()) != 1 {
				t.Errorf("problems %q, want only %q", rep.AllProblems(), c.want)
			}
		})
	}
}

func TestValidateSubmissionNotes(t *testing.T) {
	dir, _ := writeTestSubmission(t, testShapes)
	touch(t, filepath.Join(dir, "README.txt"))
	touch(t, filepath.Join(dir, ".DS_Store"))
	touch(t, filepath.Join(dir, "subj01", "notes.md"))
	rep, err := ValidateSubmission(dir, ValidateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{`"README.txt" is not a subjNN folder and is ignored`, "subj01/notes.md is not a prediction file and is ignored"}
	if !slices.Equal(rep.Notes, want) {
		t.Errorf("notes %q, want %q", rep.Notes, want)
	}
	if _, err := ValidateSubmission(filepath.Join(dir, "nope"), ValidateOptions{}); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing path: %v", err)
	}
}

func TestZipSubmission(t *testing.T) {
	dir, _ := writeTestSubmission(t, testShapes)
	touch(t, filepath.Join(dir, "README.txt"))
	zp := dir + ".zip"
	if err := ZipSubmission(dir, zp); err != nil {
		t.Fatal(err)
	}
	zr, err := zip.OpenReader(zp)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	var names []string
	for _, f := range zr.File {
		names = append(names, f.Name)
		if strings.HasSuffix(f.Name, ".npy") {
			rc, err := f.Open()
			if err != nil {
				t.Fatal(err)
			}
			var got bytes.Buffer
			got.ReadFrom(rc)
			rc.Close()
			want, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(f.Name)))
			if err != nil || !bytes.Equal(got.Bytes(), want) {
				t.Errorf("%s: zip content differs from the file (%v)", f.Name, err)
			}
		}
	}
	wantNames := []string{"subj01/", "subj01/lh_pred_test.npy", "subj01/rh_pred_test.npy", "subj02/", "subj02/lh_pred_test.npy", "subj02/rh_pred_test.npy"}
	if !slices.Equal(names, wantNames) {
		t.Errorf("zip entries %q, want %q", names, wantNames)
	}
	rep, err := ValidateSubmission(zp, ValidateOptions{Expected: testShapes})
	if err != nil {
		t.Fatal(err)
	}
	st, _ := os.Stat(zp)
	if rep.ZipBytes != st.Size() || len(rep.Files) != 4 {
		t.Errorf("zip report: ZipBytes %d (file %d), %d files", rep.ZipBytes, st.Size(), len(rep.Files))
	}
	// A directory near the limit is measured by zipping it: the size must
	// be the zip's.
	rep, err = ValidateSubmission(dir, ValidateOptions{MaxBytes: st.Size()})
	if err != nil {
		t.Fatal(err)
	}
	if rep.ZipBytes != st.Size() {
		t.Errorf("measured zip size %d, the zip file has %d", rep.ZipBytes, st.Size())
	}
	if err := ZipSubmission(t.TempDir(), zp); err == nil || !strings.Contains(err.Error(), "no subjNN folders") {
		t.Errorf("zipping an empty directory: %v", err)
	}
}

func TestValidateZipWrappedFolder(t *testing.T) {
	zp := filepath.Join(t.TempDir(), "wrapped.zip")
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	w, _ := zw.Create("submission/subj01/lh_pred_test.npy")
	npy.EncodeFloat32(w, predictions(1, 2, 2), []int{2, 2})
	zw.Close()
	if err := os.WriteFile(zp, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	rep, err := ValidateSubmission(zp, ValidateOptions{})
	if !errors.Is(err, ErrInvalidSubmission) {
		t.Fatalf("error %v", err)
	}
	want := []string{`zip entry "submission/subj01/lh_pred_test.npy" is not at subjNN/{lh,rh}_pred_test.npy (the subject folders must be at the zip's root)`,
		"no subjNN folders at the top level"}
	if !slices.Equal(rep.AllProblems(), want) {
		t.Errorf("problems %q, want %q", rep.AllProblems(), want)
	}
}

// TestSubmissionLoadsInNumpy: numpy loads every file of a submission that
// WriteSubmission and ZipSubmission wrote, from the directory and from the
// zip, with the written shapes, dtype float32 and the same values (SHA-256
// of the C-order little-endian float32 bytes).
func TestSubmissionLoadsInNumpy(t *testing.T) {
	const python = "/usr/bin/python3"
	if _, err := os.Stat(python); err != nil {
		t.Skipf("%s is not available (%v): the numpy check is skipped", python, err)
	}
	if out, err := exec.Command(python, "-c", "import numpy").CombinedOutput(); err != nil {
		t.Skipf("%s cannot import numpy (%v: %s): the numpy check is skipped", python, err, out)
	}
	dir, vals := writeTestSubmission(t, testShapes)
	if err := ZipSubmission(dir, dir+".zip"); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(python, "-c", `
import hashlib, io, json, os, sys, zipfile
import numpy as np
d, z = sys.argv[1], sys.argv[2]
def desc(a):
    return {"shape": list(a.shape), "dtype": a.dtype.str,
            "sha256": hashlib.sha256(np.ascontiguousarray(a, dtype="<f4").tobytes()).hexdigest()}
res = {"dir": {}, "zip": {}}
for s in sorted(os.listdir(d)):
    for h in ("lh", "rh"):
        name = s + "/" + h + "_pred_test.npy"
        res["dir"][name] = desc(np.load(os.path.join(d, name)))
with zipfile.ZipFile(z) as zf:
    for name in zf.namelist():
        if name.endswith(".npy"):
            res["zip"][name] = desc(np.load(io.BytesIO(zf.read(name))))
print(json.dumps(res))
`, dir, dir+".zip").CombinedOutput()
	if err != nil {
		t.Fatalf("numpy could not load the submission: %v\n%s", err, out)
	}
	type desc struct {
		Shape  []int  `json:"shape"`
		DType  string `json:"dtype"`
		SHA256 string `json:"sha256"`
	}
	var res map[string]map[string]desc
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	for _, where := range []string{"dir", "zip"} {
		if len(res[where]) != 4 {
			t.Errorf("%s: numpy found %d files, want 4: %v", where, len(res[where]), res[where])
		}
		for s, sh := range testShapes {
			for i, h := range Hemis() {
				name := filepath.ToSlash(SubmissionPath("", s, h))
				got := res[where][name]
				sum := sha256.New()
				binary.Write(sum, binary.LittleEndian, vals[s][i])
				want := desc{Shape: []int{sh.Rows, sh.Cols[i]}, DType: "<f4", SHA256: hex.EncodeToString(sum.Sum(nil))}
				if !slices.Equal(got.Shape, want.Shape) || got.DType != want.DType || got.SHA256 != want.SHA256 {
					t.Errorf("%s %s: numpy sees %+v, want %+v", where, name, got, want)
				}
			}
		}
	}
}

// FuzzValidateSubmissionZip: any bytes given as a submission zip give a
// report or an error, never a panic, and a nil error only with a valid
// report.
func FuzzValidateSubmissionZip(f *testing.F) {
	dir := f.TempDir()
	sub := filepath.Join(dir, "s")
	if err := WriteSubmission(sub, 1, predictions(1, 2, 3), predictions(2, 2, 2), 2, [2]int{3, 2}); err != nil {
		f.Fatal(err)
	}
	if err := ZipSubmission(sub, sub+".zip"); err != nil {
		f.Fatal(err)
	}
	seed, err := os.ReadFile(sub + ".zip")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(seed)
	f.Add(seed[:len(seed)/2])
	f.Add([]byte("PK\x05\x06" + strings.Repeat("\x00", 18)))
	f.Fuzz(func(t *testing.T, b []byte) {
		zp := filepath.Join(t.TempDir(), "f.zip")
		if err := os.WriteFile(zp, b, 0o644); err != nil {
			t.Fatal(err)
		}
		rep, err := ValidateSubmission(zp, ValidateOptions{MaxBytes: 1 << 20})
		if err == nil && (rep == nil || !rep.OK()) {
			t.Fatalf("nil error with report %+v", rep)
		}
		if errors.Is(err, ErrInvalidSubmission) && (rep == nil || rep.OK()) {
			t.Fatalf("invalid without problems: %v", err)
		}
	})
}
