package algonauts

import (
	"archive/zip"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"cortexcast/backend/npy"
)

// A challenge submission is a directory (uploaded as a zip with the
// subject folders at its root) holding, for every subject,
//
//	subjNN/lh_pred_test.npy
//	subjNN/rh_pred_test.npy
//
// each a 2-d little-endian float32 ('<f4') array of test images × challenge
// vertices of that hemisphere, rows in the order of the test images
// (test-0001… first).

// MaxSubmissionBytes is the default limit on the size of the submission zip
// that is uploaded: 300 MB (300,000,000 bytes). CodaLab competitions cap an
// upload at a few hundred MB; 300 MB is the bound chosen here. The limit
// applies to the zip, not to the unpacked files: predictions for all eight
// Algonauts subjects (2,012 test images × about 39,500 vertices) are about
// 318 MB of float32 before compression, so the directory of a complete real
// submission is larger than the limit while its zip is expected to fit
// (deflate shrank cortexcast's float32 predictions by about 8% in a trial,
// which would make a complete real zip about 292 MB: close to the limit, so
// ValidateSubmission measures it).
const MaxSubmissionBytes int64 = 300_000_000

// SubmissionShape is what one subject's predictions must look like: Rows
// test images by Cols[0] (lh) and Cols[1] (rh) challenge vertices.
type SubmissionShape struct {
	Rows int
	Cols [2]int
}

// ErrInvalidSubmission is wrapped by the error ValidateSubmission returns
// when the submission has problems (as opposed to failing to read it).
var ErrInvalidSubmission = errors.New("invalid submission")

// WriteSubmission writes one subject's predictions into the submission
// directory dir: dir/subjNN/lh_pred_test.npy and rh_pred_test.npy, float32,
// rows × cols[0] and rows × cols[1], row-major. Each file is written
// atomically. Predictions that are not finite are refused, naming the
// hemisphere, test image and column, so that no unusable file is written.
func WriteSubmission(dir string, subj int, lh, rh []float32, rows int, cols [2]int) error {
	if subj < 1 || subj > 99 {
		return fmt.Errorf("algonauts: submission subject %d is outside 1..99", subj)
	}
	if rows < 1 || cols[0] < 1 || cols[1] < 1 {
		return fmt.Errorf("algonauts: submission subj%02d: shape %d × %v must be positive", subj, rows, cols)
	}
	data := [2][]float32{lh, rh}
	for i, h := range Hemis() {
		if len(data[i]) != rows*cols[i] {
			return fmt.Errorf("algonauts: submission subj%02d %s: %d values, want %d test images × %d vertices = %d",
				subj, h, len(data[i]), rows, cols[i], rows*cols[i])
		}
		if k := firstNonFinite(data[i]); k >= 0 {
			return fmt.Errorf("algonauts: submission subj%02d %s: prediction %v at test image %d, vertex column %d is not finite",
				subj, h, data[i][k], k/cols[i]+1, k%cols[i])
		}
	}
	if err := os.MkdirAll(SubjectDir(dir, subj), 0o755); err != nil {
		return fmt.Errorf("algonauts: writing submission: %w", err)
	}
	for i, h := range Hemis() {
		if err := npy.WriteFloat32(SubmissionPath(dir, subj, h), data[i], []int{rows, cols[i]}); err != nil {
			return fmt.Errorf("algonauts: writing submission subj%02d %s: %w", subj, h, err)
		}
	}
	return nil
}

// firstNonFinite returns the index of the first NaN or ±Inf in v, or -1.
func firstNonFinite(v []float32) int {
	for i, x := range v {
		if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
			return i
		}
	}
	return -1
}

// ExpectedSubmission returns the shape each of the given subjects'
// predictions must have: their number of test images by their number of
// challenge vertices per hemisphere.
func ExpectedSubmission(ds *Dataset, subjects []int) (map[int]SubmissionShape, error) {
	out := make(map[int]SubmissionShape, len(subjects))
	for _, s := range subjects {
		sub, err := ds.Subject(s)
		if err != nil {
			return nil, err
		}
		if len(sub.Test) == 0 {
			return nil, fmt.Errorf("algonauts: subj%02d has no test images in %s", s, TestImageDir(ds.root, s))
		}
		sh := SubmissionShape{Rows: len(sub.Test)}
		for i, h := range Hemis() {
			v, err := sub.ChallengeVertices(h)
			if err != nil {
				return nil, err
			}
			sh.Cols[i] = len(v)
		}
		out[s] = sh
	}
	return out, nil
}

// ValidateOptions says what ValidateSubmission checks beyond the form.
type ValidateOptions struct {
	// Expected, when not nil, gives the shape of every subject the
	// submission must hold (see ExpectedSubmission); subjects beyond it
	// are problems too. When nil, any subjNN folders are accepted and only
	// their consistency (lh and rh rows agree) is checked.
	Expected map[int]SubmissionShape
	// MaxBytes limits the size of the zip; 0 means MaxSubmissionBytes.
	MaxBytes int64
}

// SubmissionFile is what ValidateSubmission found in one prediction file.
type SubmissionFile struct {
	Subject int
	Hemi    Hemi
	// Name is the file's path inside the submission, e.g.
	// "subj01/lh_pred_test.npy".
	Name string
	// DType and Shape are from the .npy header (empty when unreadable).
	DType string
	Shape []int
	// Bytes is the file's size.
	Bytes int64
	// NonFinite counts NaN and ±Inf values.
	NonFinite int
	// Problems lists what is wrong with this file; empty when it is fine.
	Problems []string
}

// SubmissionReport is the result of ValidateSubmission.
type SubmissionReport struct {
	// Path is the directory or zip that was checked.
	Path string
	// Subjects are the subjNN folders found, ascending.
	Subjects []int
	// Files are the prediction files found or expected, by subject then
	// hemisphere.
	Files []SubmissionFile
	// RawBytes is the total size of the prediction files.
	RawBytes int64
	// ZipBytes is the size of the zip: the file's size when a zip was
	// checked; for a directory, the size its zip would have, measured only
	// when RawBytes is over half of MaxBytes and nothing else is wrong (0
	// otherwise).
	ZipBytes int64
	// MaxBytes is the limit the zip was checked against.
	MaxBytes int64
	// Problems lists what is wrong with the submission as a whole (missing
	// or unexpected subjects, size); per-file problems are in Files.
	Problems []string
	// Notes are remarks that do not make the submission invalid (stray
	// files that the zip leaves out, say).
	Notes []string
}

// OK reports whether the submission has no problems.
func (r *SubmissionReport) OK() bool {
	if len(r.Problems) > 0 {
		return false
	}
	for _, f := range r.Files {
		if len(f.Problems) > 0 {
			return false
		}
	}
	return true
}

// AllProblems returns every problem, each prefixed with the file it is
// about where there is one.
func (r *SubmissionReport) AllProblems() []string {
	out := slices.Clone(r.Problems)
	for _, f := range r.Files {
		for _, p := range f.Problems {
			out = append(out, f.Name+": "+p)
		}
	}
	return out
}

// WriteTo prints the report, one line per file, then the size and the
// verdict.
func (r *SubmissionReport) WriteTo(w io.Writer) (int64, error) {
	var b strings.Builder
	fmt.Fprintf(&b, "submission %s: %d subject(s)\n", r.Path, len(r.Subjects))
	for _, f := range r.Files {
		status := "ok"
		if len(f.Problems) > 0 {
			status = "PROBLEM: " + strings.Join(f.Problems, "; ")
		}
		shape := "?"
		if f.Shape != nil {
			shape = shapeString(f.Shape)
		}
		dt := f.DType
		if dt == "" {
			dt = "?"
		}
		fmt.Fprintf(&b, "  %-24s %-5s %-14s %8.1f MB  %s\n", f.Name, dt, shape, float64(f.Bytes)/1e6, status)
	}
	fmt.Fprintf(&b, "  prediction files: %.1f MB", float64(r.RawBytes)/1e6)
	if r.ZipBytes > 0 {
		fmt.Fprintf(&b, ", zip: %.1f MB", float64(r.ZipBytes)/1e6)
	}
	fmt.Fprintf(&b, " (limit on the zip: %.0f MB)\n", float64(r.MaxBytes)/1e6)
	for _, n := range r.Notes {
		fmt.Fprintf(&b, "  note: %s\n", n)
	}
	for _, p := range r.Problems {
		fmt.Fprintf(&b, "  PROBLEM: %s\n", p)
	}
	if r.OK() {
		b.WriteString("valid\n")
	} else {
		fmt.Fprintf(&b, "INVALID: %d problem(s)\n", len(r.AllProblems()))
	}
	n, err := io.WriteString(w, b.String())
	return int64(n), err
}

func shapeString(s []int) string {
	parts := make([]string, len(s))
	for i, d := range s {
		parts[i] = strconv.Itoa(d)
	}
	if len(s) == 1 {
		return "(" + parts[0] + ",)"
	}
	return "(" + strings.Join(parts, ", ") + ")"
}

var (
	subjFolderRE = regexp.MustCompile(`^subj([0-9]{2})$`)
	predFileRE   = regexp.MustCompile(`^subj([0-9]{2})/(lh|rh)_pred_test\.npy$`)
)

// ValidateSubmission checks the submission at path, a directory or a .zip
// file with the subjNN folders at its root: for every subject both
// prediction files are present, 2-d '<f4' arrays with the same number of
// rows, no NaN or ±Inf; with opts.Expected, exactly the expected subjects
// with the expected shapes; and the zip within opts.MaxBytes. The report
// is always returned when the submission could be read; the error is nil
// when it is valid and wraps ErrInvalidSubmission (listing the problems)
// when it is not.
func ValidateSubmission(path string, opts ValidateOptions) (*SubmissionReport, error) {
	if opts.MaxBytes <= 0 {
		opts.MaxBytes = MaxSubmissionBytes
	}
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("algonauts: validating submission: %w", err)
	}
	rep := &SubmissionReport{Path: path, MaxBytes: opts.MaxBytes}
	var fsys fs.FS
	if st.IsDir() {
		fsys = os.DirFS(path)
	} else {
		zr, err := zip.OpenReader(path)
		if err != nil {
			return nil, fmt.Errorf("algonauts: validating submission %s: not a directory or a readable zip: %w", path, err)
		}
		defer zr.Close()
		fsys = zr
		rep.ZipBytes = st.Size()
		checkZipNames(zr, rep)
	}
	if err := validateFS(fsys, opts, rep); err != nil {
		return nil, err
	}
	if st.IsDir() && rep.RawBytes > opts.MaxBytes/2 && rep.OK() {
		// Within reach of the limit: measure the zip this directory makes.
		var c countingWriter
		if err := writeZip(&c, path); err != nil {
			return nil, err
		}
		rep.ZipBytes = c.n
	}
	if rep.ZipBytes > opts.MaxBytes {
		rep.Problems = append(rep.Problems, fmt.Sprintf("the zip is %d bytes, over the %d-byte limit", rep.ZipBytes, opts.MaxBytes))
	}
	if !rep.OK() {
		return rep, fmt.Errorf("algonauts: submission %s: %w: %s", path, ErrInvalidSubmission, strings.Join(rep.AllProblems(), "; "))
	}
	return rep, nil
}

// checkZipNames reports zip entries that would not unpack to the expected
// layout (a wrapping folder, say).
func checkZipNames(zr *zip.ReadCloser, rep *SubmissionReport) {
	for _, f := range zr.File {
		name := strings.TrimSuffix(f.Name, "/")
		if strings.HasSuffix(name, "_pred_test.npy") && !predFileRE.MatchString(name) {
			rep.Problems = append(rep.Problems, fmt.Sprintf("zip entry %q is not at subjNN/{lh,rh}_pred_test.npy (the subject folders must be at the zip's root)", f.Name))
		}
	}
}

// validateFS checks the subject folders at the root of fsys into rep.
func validateFS(fsys fs.FS, opts ValidateOptions, rep *SubmissionReport) error {
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return fmt.Errorf("algonauts: validating submission %s: %w", rep.Path, err)
	}
	for _, e := range entries {
		name := e.Name()
		m := subjFolderRE.FindStringSubmatch(name)
		switch {
		case m != nil && e.IsDir():
			n, _ := strconv.Atoi(m[1])
			rep.Subjects = append(rep.Subjects, n)
		case strings.HasPrefix(name, "."):
		default:
			rep.Notes = append(rep.Notes, fmt.Sprintf("%q is not a subjNN folder and is ignored", name))
		}
	}
	slices.Sort(rep.Subjects)
	if len(rep.Subjects) == 0 {
		rep.Problems = append(rep.Problems, "no subjNN folders at the top level")
	}
	subjects := rep.Subjects
	if opts.Expected != nil {
		var want []int
		for s := range opts.Expected {
			want = append(want, s)
		}
		slices.Sort(want)
		for _, s := range want {
			if !slices.Contains(rep.Subjects, s) {
				rep.Problems = append(rep.Problems, fmt.Sprintf("subj%02d is missing (the dataset has it)", s))
			}
		}
		for _, s := range rep.Subjects {
			if _, ok := opts.Expected[s]; !ok {
				rep.Problems = append(rep.Problems, fmt.Sprintf("subj%02d is not expected (the expected subjects are %v)", s, want))
			}
		}
		subjects = want
	}
	for _, s := range subjects {
		folder := fmt.Sprintf("subj%02d", s)
		if !slices.Contains(rep.Subjects, s) {
			continue
		}
		if sub, err := fs.ReadDir(fsys, folder); err == nil {
			for _, e := range sub {
				if n := e.Name(); n != "lh_pred_test.npy" && n != "rh_pred_test.npy" && !strings.HasPrefix(n, ".") {
					rep.Notes = append(rep.Notes, fmt.Sprintf("%s/%s is not a prediction file and is ignored", folder, n))
				}
			}
		}
		exp, hasExp := opts.Expected[s]
		var rows [2]int
		for i, h := range Hemis() {
			f := checkPredFile(fsys, s, h)
			if len(f.Shape) == 2 {
				rows[i] = f.Shape[0]
				if hasExp && (f.Shape[0] != exp.Rows || f.Shape[1] != exp.Cols[i]) {
					f.Problems = append(f.Problems, fmt.Sprintf("shape %s, want (%d, %d): %d test images × %d %s challenge vertices",
						shapeString(f.Shape), exp.Rows, exp.Cols[i], exp.Rows, exp.Cols[i], h))
				}
			}
			rep.RawBytes += f.Bytes
			rep.Files = append(rep.Files, f)
		}
		if !hasExp && rows[0] > 0 && rows[1] > 0 && rows[0] != rows[1] {
			rep.Problems = append(rep.Problems, fmt.Sprintf("%s: lh has %d rows (test images) but rh has %d", folder, rows[0], rows[1]))
		}
	}
	return nil
}

// checkPredFile reads one prediction file and describes it.
func checkPredFile(fsys fs.FS, subj int, h Hemi) SubmissionFile {
	name := path.Join(fmt.Sprintf("subj%02d", subj), string(h)+"_pred_test.npy")
	f := SubmissionFile{Subject: subj, Hemi: h, Name: name}
	r, err := fsys.Open(name)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			f.Problems = append(f.Problems, "missing")
		} else {
			f.Problems = append(f.Problems, err.Error())
		}
		return f
	}
	defer r.Close()
	if st, err := r.Stat(); err == nil {
		f.Bytes = st.Size()
	}
	a, err := npy.Decode(r)
	if err != nil {
		f.Problems = append(f.Problems, "not a readable .npy file: "+err.Error())
		return f
	}
	f.DType, f.Shape = a.DType, a.Shape
	if a.DType != "<f4" {
		f.Problems = append(f.Problems, fmt.Sprintf("dtype %s, want <f4 (little-endian float32)", a.DType))
	}
	if len(a.Shape) != 2 {
		f.Problems = append(f.Problems, fmt.Sprintf("shape %s is %d-d, want 2-d (test images, vertices)", shapeString(a.Shape), len(a.Shape)))
	} else if a.Shape[0] == 0 || a.Shape[1] == 0 {
		f.Problems = append(f.Problems, fmt.Sprintf("shape %s is empty", shapeString(a.Shape)))
	}
	v, err := a.Float32()
	if err != nil {
		f.Problems = append(f.Problems, "values: "+err.Error())
		return f
	}
	first := -1
	for i, x := range v {
		if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
			if first < 0 {
				first = i
			}
			f.NonFinite++
		}
	}
	if f.NonFinite > 0 {
		at := fmt.Sprintf("element %d", first)
		if len(a.Shape) == 2 && a.Shape[1] > 0 {
			at = fmt.Sprintf("row %d, column %d", first/a.Shape[1], first%a.Shape[1])
		}
		f.Problems = append(f.Problems, fmt.Sprintf("%d NaN/Inf value(s), the first at %s", f.NonFinite, at))
	}
	return f
}

// ZipSubmission writes the prediction files of the submission directory
// dir (subjNN/{lh,rh}_pred_test.npy, nothing else) into the zip file
// zipPath, with the subject folders at the zip's root as the challenge
// expects. The zip is written atomically.
func ZipSubmission(dir, zipPath string) error {
	if err := npy.WriteFile(zipPath, func(w io.Writer) error { return writeZip(w, dir) }); err != nil {
		return fmt.Errorf("algonauts: zipping submission %s: %w", dir, err)
	}
	return nil
}

// writeZip writes the zip of the submission directory dir to w.
func writeZip(w io.Writer, dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("algonauts: zipping submission: %w", err)
	}
	zw := zip.NewWriter(w)
	count := 0
	for _, e := range entries {
		if !e.IsDir() || !subjFolderRE.MatchString(e.Name()) {
			continue
		}
		if _, err := zw.CreateHeader(&zip.FileHeader{Name: e.Name() + "/", Method: zip.Store}); err != nil {
			return fmt.Errorf("algonauts: zipping submission: %w", err)
		}
		for _, h := range Hemis() {
			name := e.Name() + "/" + string(h) + "_pred_test.npy"
			if err := addZipFile(zw, filepath.Join(dir, filepath.FromSlash(name)), name); err != nil {
				return err
			}
			count++
		}
	}
	if count == 0 {
		return fmt.Errorf("algonauts: zipping submission: %s holds no subjNN folders", dir)
	}
	if err := zw.Close(); err != nil {
		return fmt.Errorf("algonauts: zipping submission: %w", err)
	}
	return nil
}

func addZipFile(zw *zip.Writer, src, name string) error {
	f, err := os.Open(src)
	if err != nil {
		return fmt.Errorf("algonauts: zipping submission: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("algonauts: zipping submission: %w", err)
	}
	hdr, err := zip.FileInfoHeader(st)
	if err != nil {
		return fmt.Errorf("algonauts: zipping submission %s: %w", src, err)
	}
	hdr.Name, hdr.Method = name, zip.Deflate
	w, err := zw.CreateHeader(hdr)
	if err != nil {
		return fmt.Errorf("algonauts: zipping submission %s: %w", src, err)
	}
	if _, err := io.Copy(w, f); err != nil {
		return fmt.Errorf("algonauts: zipping submission %s: %w", src, err)
	}
	return nil
}

// countingWriter counts the bytes written to it.
type countingWriter struct{ n int64 }

func (c *countingWriter) Write(p []byte) (int, error) {
	c.n += int64(len(p))
	return len(p), nil
}
