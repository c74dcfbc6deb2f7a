package algonauts

import (
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"cortexcast/backend/npy"
)

// Dataset is an Algonauts 2023 directory tree.
type Dataset struct {
	root     string
	subjects []int
}

var subjDirRE = regexp.MustCompile(`^subj([0-9]{2})$`)

// Open finds the subjNN directories under root. It reads nothing else;
// Subject checks a subject's files.
func Open(root string) (*Dataset, error) {
	entries, err := os.ReadDir(root)
	if err != nil {
		return nil, fmt.Errorf("algonauts: opening dataset: %w", err)
	}
	var subjects []int
	for _, e := range entries {
		m := subjDirRE.FindStringSubmatch(e.Name())
		if m == nil || !e.IsDir() {
			continue
		}
		n, _ := strconv.Atoi(m[1])
		subjects = append(subjects, n)
	}
	if len(subjects) == 0 {
		return nil, fmt.Errorf("algonauts: %s holds no subjNN directories (is it the Algonauts 2023 root?): %w", root, fs.ErrNotExist)
	}
	slices.Sort(subjects)
	return &Dataset{root: root, subjects: subjects}, nil
}

// Root returns the directory the dataset was opened at.
func (d *Dataset) Root() string { return d.root }

// Subjects returns the subject numbers present, ascending.
func (d *Dataset) Subjects() []int { return slices.Clone(d.subjects) }

// Image is one stimulus image of the layout.
type Image struct {
	// Path is the image file.
	Path string
	// Index is the 1-based position in the split; training image Index
	// is row Index-1 of the fMRI matrices.
	Index int
	// NSDID is the Natural Scenes Dataset image id from the file name.
	NSDID int
}

// Subject is one subject's part of the dataset.
type Subject struct {
	// Root is the dataset root.
	Root string
	// ID is the subject number (1 for subj01).
	ID int
	// Train and Test are the images of each split, by Index.
	Train, Test []Image
	// Notes say which optional parts are missing (no test split), for callers to show.
	Notes []string
}

// Subject reads the image lists of subject n.
func (d *Dataset) Subject(n int) (*Subject, error) {
	if !slices.Contains(d.subjects, n) {
		present := make([]string, len(d.subjects))
		for i, s := range d.subjects {
			present[i] = strconv.Itoa(s)
		}
		return nil, fmt.Errorf("algonauts: subject %d is not in %s (present: %s)", n, d.root, strings.Join(present, ", "))
	}
	s := &Subject{Root: d.root, ID: n}
	var err error
	if s.Train, err = listImages(TrainImageDir(d.root, n), "train"); err != nil {
		return nil, err
	}
	// The test split is optional: a training-only download still trains and evaluates.
	s.Test, err = listImages(TestImageDir(d.root, n), "test")
	if errors.Is(err, fs.ErrNotExist) {
		s.Notes = append(s.Notes, fmt.Sprintf("subj%02d has no test split (%s): nothing to predict for a submission", n, TestImageDir(d.root, n)))
		err = nil
	}
	if err != nil {
		return nil, err
	}
	return s, nil
}

// listImages lists <prefix>-NNNN_nsd-NNNNN.png files in dir, sorted by
// index, and checks that the indices run 1..N. Hidden files (".*") are
// skipped; any other name is an error.
func listImages(dir, prefix string) ([]Image, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("algonauts: listing %s images: %w", prefix, err)
	}
	re := regexp.MustCompile(`^` + prefix + `-([0-9]{4,9})_nsd-([0-9]{5,9})\.png$`)
	var imgs []Image
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, ".") {
			continue
		}
		m := re.FindStringSubmatch(name)
		if m == nil || e.IsDir() {
			return nil, fmt.Errorf("algonauts: %s: %q does not match %s-NNNN_nsd-NNNNN.png", dir, name, prefix)
		}
		idx, _ := strconv.Atoi(m[1])
		id, _ := strconv.Atoi(m[2])
		imgs = append(imgs, Image{Path: dir + string(os.PathSeparator) + name, Index: idx, NSDID: id})
	}
	slices.SortFunc(imgs, func(a, b Image) int { return a.Index - b.Index })
	for i, im := range imgs {
		if im.Index != i+1 {
			if i > 0 && im.Index == imgs[i-1].Index {
				return nil, fmt.Errorf("algonauts: %s: two %s images with index %d (%s and %s)", dir, prefix, im.Index, imgs[i-1].Path, im.Path)
			}
			return nil, fmt.Errorf("algonauts: %s: %s image index %d is missing (found %d next; indices must run 1..%d)", dir, prefix, i+1, im.Index, len(imgs))
		}
	}
	return imgs, nil
}

// FMRI reads the training fMRI matrix of hemisphere h: rows are training
// images (row i is Train[i]), columns challenge vertices. It checks both
// against the image list and the all-vertices mask.
func (s *Subject) FMRI(h Hemi) (data []float32, rows, cols int, err error) {
	if !h.valid() {
		return nil, 0, 0, fmt.Errorf("algonauts: unknown hemisphere %q", h)
	}
	vertices, err := s.ChallengeVertices(h)
	if err != nil {
		return nil, 0, 0, err
	}
	path := FMRIPath(s.Root, s.ID, h)
	data, shape, err := npy.ReadFloat32(path)
	if err != nil {
		return nil, 0, 0, fmt.Errorf("algonauts: subj%02d %s fMRI: %w", s.ID, h, err)
	}
	if len(shape) != 2 {
		return nil, 0, 0, fmt.Errorf("algonauts: %s has shape %v, want 2-d images × vertices", path, shape)
	}
	rows, cols = shape[0], shape[1]
	if rows != len(s.Train) {
		return nil, 0, 0, fmt.Errorf("algonauts: %s has %d rows but subj%02d has %d training images", path, rows, s.ID, len(s.Train))
	}
	if cols != len(vertices) {
		return nil, 0, 0, fmt.Errorf("algonauts: %s has %d columns but %s marks %d challenge vertices",
			path, cols, AllVerticesMaskPath(s.Root, s.ID, h), len(vertices))
	}
	return data, rows, cols, nil
}

// readLabels reads a 1-d integer mask of the given length as int32.
func readLabels(path string, want int, what string) ([]int32, error) {
	v, shape, err := npy.ReadInt64(path)
	if err != nil {
		return nil, err
	}
	if len(shape) != 1 || shape[0] != want {
		return nil, fmt.Errorf("algonauts: %s has shape %v, want (%d,) (%s)", path, shape, want, what)
	}
	out := make([]int32, len(v))
	for i, x := range v {
		if x < math.MinInt32 || x > math.MaxInt32 {
			return nil, fmt.Errorf("algonauts: %s: label %d at vertex %d is outside the int32 range", path, x, i)
		}
		out[i] = int32(x)
	}
	return out, nil
}

// ChallengeVertices returns the fsaverage indices of hemisphere h's
// challenge vertices, ascending: where the all-vertices mask is nonzero.
func (s *Subject) ChallengeVertices(h Hemi) ([]int32, error) {
	if !h.valid() {
		return nil, fmt.Errorf("algonauts: unknown hemisphere %q", h)
	}
	mask, err := readLabels(AllVerticesMaskPath(s.Root, s.ID, h), FsaverageVertices, "one entry per fsaverage vertex")
	if err != nil {
		return nil, fmt.Errorf("algonauts: subj%02d %s challenge vertices: %w", s.ID, h, err)
	}
	return NonzeroIndices(mask), nil
}

// NonzeroIndices returns the ascending indices of the nonzero entries.
func NonzeroIndices(mask []int32) []int32 {
	var idx []int32
	for i, v := range mask {
		if v != 0 {
			idx = append(idx, int32(i))
		}
	}
	return idx
}

// ROIMask reads the labels of an ROI class for hemisphere h, one per
// vertex: per challenge vertex when space is "challenge", per fsaverage
// vertex when it is "fsaverage". A missing file (the floc masks are absent
// for some subjects and hemispheres) gives an error for which
// errors.Is(err, fs.ErrNotExist) holds, so callers can go on without it.
func (s *Subject) ROIMask(h Hemi, class, space string) ([]int32, error) {
	if !h.valid() {
		return nil, fmt.Errorf("algonauts: unknown hemisphere %q", h)
	}
	if err := checkClass(class); err != nil {
		return nil, err
	}
	var want int
	switch space {
	case SpaceFsaverage:
		want = FsaverageVertices
	case SpaceChallenge:
		v, err := s.ChallengeVertices(h)
		if err != nil {
			return nil, err
		}
		want = len(v)
	default:
		return nil, fmt.Errorf("algonauts: unknown mask space %q (want %q or %q)", space, SpaceChallenge, SpaceFsaverage)
	}
	path := MaskPath(s.Root, s.ID, h, class, space)
	labels, err := readLabels(path, want, space+" space")
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("algonauts: subj%02d has no %s %s mask in %s space: %w", s.ID, h, class, space, err)
		}
		return nil, fmt.Errorf("algonauts: subj%02d %s %s mask: %w", s.ID, h, class, err)
	}
	return labels, nil
}

// Mapping reads the label → ROI name mapping of an ROI class.
func (s *Subject) Mapping(class string) (map[int]string, error) {
	if err := checkClass(class); err != nil {
		return nil, err
	}
	return ReadMapping(MappingPath(s.Root, s.ID, class))
}
