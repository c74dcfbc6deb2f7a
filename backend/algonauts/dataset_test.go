package algonauts

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"cortexcast/backend/npy"
)

func TestPaths(t *testing.T) {
	for _, tc := range []struct{ got, want string }{
		{SubjectDir("/r", 1), "/r/subj01"},
		{TrainImagePath("/r", 1, 1, 13), "/r/subj01/training_split/training_images/train-0001_nsd-00013.png"},
		{TestImagePath("/r", 8, 395, 72949), "/r/subj08/test_split/test_images/test-0395_nsd-72949.png"},
		{FMRIPath("/r", 5, RH), "/r/subj05/training_split/training_fmri/rh_training_fmri.npy"},
		{MaskPath("/r", 2, LH, "floc-faces", SpaceChallenge), "/r/subj02/roi_masks/lh.floc-faces_challenge_space.npy"},
		{MaskPath("/r", 2, RH, "streams", SpaceFsaverage), "/r/subj02/roi_masks/rh.streams_fsaverage_space.npy"},
		{AllVerticesMaskPath("/r", 3, LH), "/r/subj03/roi_masks/lh.all-vertices_fsaverage_space.npy"},
		{MappingPath("/r", 4, "prf-visualrois"), "/r/subj04/roi_masks/mapping_prf-visualrois.npy"},
		{SubmissionPath("/r", 6, LH), "/r/subj06/lh_pred_test.npy"},
	} {
		if tc.got != filepath.FromSlash(tc.want) {
			t.Errorf("got %s, want %s", tc.got, tc.want)
		}
	}
	if h := Hemis(); h != [2]Hemi{"lh", "rh"} {
		t.Errorf("Hemis() = %v", h)
	}
}

// tiny describes a small dataset written by writeTiny.
var tinyVertices = map[Hemi][]int32{LH: {5, 17, 100, FsaverageVertices - 1}, RH: {0, 2}}

func touch(t *testing.T, path string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		t.Fatal(err)
	}
}

// writeTiny writes subj01 (4 training and 2 test images, both
// hemispheres' fMRI, masks and mappings) and an empty-ish subj03.
func writeTiny(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	nsd := []int{13, 2950, 73000, 7}
	for i, id := range nsd {
		touch(t, TrainImagePath(root, 1, i+1, id))
	}
	touch(t, TestImagePath(root, 1, 1, 845))
	touch(t, TestImagePath(root, 1, 2, 846))
	touch(t, filepath.Join(TrainImageDir(root, 1), ".DS_Store"))
	if err := os.MkdirAll(ROIMaskDir(root, 1), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(FMRIDir(root, 1), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(SubjectDir(root, 3), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, h := range Hemis() {
		v := tinyVertices[h]
		// The LH mask is float32 0/1, the RH one int64 labels: both occur.
		all := make([]float32, FsaverageVertices)
		alli := make([]int64, FsaverageVertices)
		prf := make([]int64, FsaverageVertices)
		for i, x := range v {
			all[x] = 1
			alli[x] = 7
			prf[x] = int64(i + 1)
		}
		var err error
		if h == LH {
			err = npy.WriteFloat32(AllVerticesMaskPath(root, 1, h), all, []int{FsaverageVertices})
		} else {
			err = npy.WriteInt64(AllVerticesMaskPath(root, 1, h), alli, []int{FsaverageVertices})
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := npy.WriteInt64(MaskPath(root, 1, h, "prf-visualrois", SpaceFsaverage), prf, []int{FsaverageVertices}); err != nil {
			t.Fatal(err)
		}
		ch := make([]int64, len(v))
		for i := range ch {
			ch[i] = int64(i + 1)
		}
		if err := npy.WriteInt64(MaskPath(root, 1, h, "prf-visualrois", SpaceChallenge), ch, []int{len(v)}); err != nil {
			t.Fatal(err)
		}
		fmri := make([]float32, 4*len(v))
		for i := range fmri {
			fmri[i] = float32(i) / 4
		}
		if err := npy.WriteFloat32(FMRIPath(root, 1, h), fmri, []int{4, len(v)}); err != nil {
			t.Fatal(err)
		}
	}
	m, err := DefaultMapping("prf-visualrois")
	if err != nil {
		t.Fatal(err)
	}
	if err := WriteMapping(MappingPath(root, 1, "prf-visualrois"), m); err != nil {
		t.Fatal(err)
	}
	return root
}

func TestTinyDataset(t *testing.T) {
	root := writeTiny(t)
	touch(t, filepath.Join(root, "subj1x", "x")) // not a subject directory
	touch(t, filepath.Join(root, "subj04"))      // a file, not a directory
	d, err := Open(root)
	if err != nil {
		t.Fatal(err)
	}
	if got := d.Subjects(); !slices.Equal(got, []int{1, 3}) {
		t.Fatalf("Subjects = %v, want [1 3]", got)
	}
	_, err = d.Subject(2)
	if err == nil || !strings.Contains(err.Error(), "subject 2 is not in "+root+" (present: 1, 3)") {
		t.Errorf("unknown subject: %v", err)
	}
	if _, err := d.Subject(3); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("subj03 without images: err = %v, want ErrNotExist", err)
	}
	s, err := d.Subject(1)
	if err != nil {
		t.Fatal(err)
	}
	wantTrain := []Image{
		{TrainImagePath(root, 1, 1, 13), 1, 13}, {TrainImagePath(root, 1, 2, 2950), 2, 2950},
		{TrainImagePath(root, 1, 3, 73000), 3, 73000}, {TrainImagePath(root, 1, 4, 7), 4, 7},
	}
	if !slices.Equal(s.Train, wantTrain) {
		t.Errorf("Train = %v\nwant %v", s.Train, wantTrain)
	}
	if len(s.Test) != 2 || s.Test[1].NSDID != 846 || s.Test[1].Index != 2 {
		t.Errorf("Test = %v", s.Test)
	}
	for _, h := range Hemis() {
		v, err := s.ChallengeVertices(h)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(v, tinyVertices[h]) {
			t.Errorf("%s vertices = %v, want %v", h, v, tinyVertices[h])
		}
		data, rows, cols, err := s.FMRI(h)
		if err != nil {
			t.Fatal(err)
		}
		if rows != 4 || cols != len(v) || data[len(data)-1] != float32(4*len(v)-1)/4 {
			t.Errorf("%s FMRI: %d×%d, last %v", h, rows, cols, data[len(data)-1])
		}
		ch, err := s.ROIMask(h, "prf-visualrois", SpaceChallenge)
		if err != nil {
			t.Fatal(err)
		}
		fsa, err := s.ROIMask(h, "prf-visualrois", SpaceFsaverage)
		if err != nil {
			t.Fatal(err)
		}
		// The challenge-space mask is the fsaverage one at the challenge vertices.
		for i, x := range v {
			if ch[i] != fsa[x] || ch[i] != int32(i+1) {
				t.Errorf("%s vertex %d: challenge label %d, fsaverage label %d", h, x, ch[i], fsa[x])
			}
		}
		_, err = s.ROIMask(h, "floc-faces", SpaceChallenge)
		if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "no "+string(h)+" floc-faces mask") {
			t.Errorf("missing floc mask: err = %v", err)
		}
	}
	m, err := s.Mapping("prf-visualrois")
	if err != nil || m[7] != "hV4" || len(m) != 8 {
		t.Errorf("Mapping = %v, %v", m, err)
	}
	for _, bad := range []func() error{
		func() error { _, err := s.ROIMask(LH, "floc-cars", SpaceChallenge); return err },
		func() error { _, err := s.ROIMask(LH, "streams", "fsaverage5"); return err },
		func() error { _, err := s.ChallengeVertices("xh"); return err },
		func() error { _, _, _, err := s.FMRI("both"); return err },
	} {
		if bad() == nil {
			t.Error("invalid argument accepted")
		}
	}
}

func TestFMRIShapeErrors(t *testing.T) {
	root := writeTiny(t)
	d, err := Open(root)
	if err != nil {
		t.Fatal(err)
	}
	s, err := d.Subject(1)
	if err != nil {
		t.Fatal(err)
	}
	path := FMRIPath(root, 1, LH)
	for _, tc := range []struct {
		shape []int
		want  string
	}{
		{[]int{4, 3}, path + " has 3 columns but " + AllVerticesMaskPath(root, 1, LH) + " marks 4 challenge vertices"},
		{[]int{5, 4}, path + " has 5 rows but subj01 has 4 training images"},
		{[]int{16}, path + " has shape [16], want 2-d"},
	} {
		n := 1
		for _, x := range tc.shape {
			n *= x
		}
		if err := npy.WriteFloat32(path, make([]float32, n), tc.shape); err != nil {
			t.Fatal(err)
		}
		_, _, _, err := s.FMRI(LH)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("shape %v: err = %v\nwant it to contain %q", tc.shape, err, tc.want)
		}
	}
	// A challenge mask of the wrong length.
	mpath := MaskPath(root, 1, LH, "prf-visualrois", SpaceChallenge)
	if err := npy.WriteInt64(mpath, []int64{1, 2, 3}, []int{3}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ROIMask(LH, "prf-visualrois", SpaceChallenge); err == nil || !strings.Contains(err.Error(), mpath+" has shape [3], want (4,)") {
		t.Errorf("short mask: err = %v", err)
	}
	// A mask with a fractional value.
	if err := npy.WriteFloat32(mpath, []float32{1, 2.5, 0, 0}, []int{4}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ROIMask(LH, "prf-visualrois", SpaceChallenge); !errors.Is(err, npy.ErrConvert) {
		t.Errorf("fractional mask: err = %v", err)
	}
}

func TestImageListErrors(t *testing.T) {
	for _, tc := range []struct {
		files []string
		want  string
	}{
		{[]string{"train-0001_nsd-00013.png", "train-0002_nsd-00014.jpg"}, `"train-0002_nsd-00014.jpg" does not match train-NNNN_nsd-NNNNN.png`},
		{[]string{"train-0001_nsd-00013.png", "train-0003_nsd-00014.png"}, "train image index 2 is missing (found 3 next; indices must run 1..2)"},
		{[]string{"train-0001_nsd-00013.png", "train-0001_nsd-00014.png"}, "two train images with index 1"},
		{[]string{"train-1_nsd-00013.png"}, `"train-1_nsd-00013.png" does not match`},
	} {
		root := t.TempDir()
		for _, f := range tc.files {
			touch(t, filepath.Join(TrainImageDir(root, 2), f))
		}
		touch(t, TestImagePath(root, 2, 1, 1))
		d, err := Open(root)
		if err != nil {
			t.Fatal(err)
		}
		_, err = d.Subject(2)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: err = %v\nwant it to contain %q", tc.files, err, tc.want)
		}
	}
	if _, err := Open(t.TempDir()); !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "no subjNN directories") {
		t.Errorf("empty root: err = %v", err)
	}
}

// realMasks returns ../shared/data/algonauts2023/roi_masks relative to the
// module root, or skips.
func realMasks(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs(".")
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Skip("module root not found")
		}
		dir = parent
	}
	masks := filepath.Join(dir, "..", "shared", "data", "algonauts2023", "roi_masks")
	if _, err := os.Stat(filepath.Join(masks, "lh.streams_fsaverage_space.npy")); err != nil {
		t.Skipf("real Algonauts masks not present (%v); see ../shared/data/algonauts2023/roi_masks/SOURCE.md", err)
	}
	return masks
}

// TestRealMasks reads the real fsaverage-space masks, using each streams
// mask as the all-vertices mask, and checks the counts in their SOURCE.md.
func TestRealMasks(t *testing.T) {
	masks := realMasks(t)
	root := t.TempDir()
	if err := os.MkdirAll(ROIMaskDir(root, 1), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, h := range Hemis() {
		for _, class := range []string{"streams", "prf-visualrois"} {
			src := filepath.Join(masks, string(h)+"."+class+"_fsaverage_space.npy")
			if err := os.Symlink(src, MaskPath(root, 1, h, class, SpaceFsaverage)); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.Symlink(filepath.Join(masks, string(h)+".streams_fsaverage_space.npy"), AllVerticesMaskPath(root, 1, h)); err != nil {
			t.Fatal(err)
		}
	}
	s := &Subject{Root: root, ID: 1}
	// Label counts 1..7 from SOURCE.md.
	counts := map[Hemi]map[string][8]int{
		LH: {"streams": {145413, 5169, 867, 1091, 853, 4974, 3129, 2346}, "prf-visualrois": {159213, 710, 828, 632, 692, 567, 669, 531}},
		RH: {"streams": {144420, 5304, 1050, 1191, 1133, 4852, 3578, 2314}, "prf-visualrois": {158813, 444, 991, 887, 725, 682, 535, 765}},
	}
	for _, h := range Hemis() {
		v, err := s.ChallengeVertices(h)
		if err != nil {
			t.Fatal(err)
		}
		if want := FsaverageVertices - counts[h]["streams"][0]; len(v) != want {
			t.Errorf("%s: %d vertices, want %d", h, len(v), want)
		}
		if !slices.IsSorted(v) || v[0] < 0 || v[len(v)-1] >= FsaverageVertices {
			t.Errorf("%s: vertices not ascending fsaverage indices", h)
		}
		for _, class := range []string{"streams", "prf-visualrois"} {
			labels, err := s.ROIMask(h, class, SpaceFsaverage)
			if err != nil {
				t.Fatal(err)
			}
			var got [8]int
			for _, l := range labels {
				got[l]++
			}
			if got != counts[h][class] {
				t.Errorf("%s %s label counts %v, SOURCE.md says %v", h, class, got, counts[h][class])
			}
		}
	}
}

func TestMissingTestSplitIsANote(t *testing.T) {
	root := writeTiny(t)
	if err := os.RemoveAll(filepath.Dir(TestImagePath(root, 1, 1, 0))); err != nil {
		t.Fatal(err)
	}
	ds, err := Open(root)
	if err != nil {
		t.Fatal(err)
	}
	s, err := ds.Subject(1)
	if err != nil {
		t.Fatalf("a subject without a test split must still open: %v", err)
	}
	if len(s.Test) != 0 || len(s.Train) == 0 || len(s.Notes) != 1 || !strings.Contains(s.Notes[0], "no test split") {
		t.Fatalf("test %d, train %d, notes %q", len(s.Test), len(s.Train), s.Notes)
	}
}
