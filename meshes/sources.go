package meshes

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"cortexcast/backend/npy"
)

// FsaverageVertices is the per-hemisphere vertex count of full fsaverage;
// fsaverage3…6 vertices are its first 642, 2562, 10242 and 40962.
const FsaverageVertices = 163842

// Resolution is a mesh resolution of the fsaverage family.
type Resolution struct {
	Name     string
	Vertices int
}

// Resolutions returns the resolutions `cortexcast meshes build` looks
// for, smallest first.
func Resolutions() []Resolution {
	return []Resolution{{"fsaverage5", 10242}, {"fsaverage6", 40962}, {"fsaverage", FsaverageVertices}}
}

// sideNames returns the GIfTI (nilearn) and FreeSurfer names of
// hemisphere hi: "left", "lh" or "right", "rh".
func sideNames(hi int) (string, string) {
	if hi == LH {
		return "left", "lh"
	}
	return "right", "rh"
}

// Source kinds besides the surfaces (which use the Surf* values).
const (
	srcSulc = NumSurfaces + iota
	srcCurv
	numSrc
)

// candidates lists the files that may hold source kind k of hemisphere hi
// of resolution name, relative to the sources directory, in the order
// tried: nilearn's GIfTI names (and their older aliases), then the
// FreeSurfer subject layout (surf/lh.inflated …), plain or gzip.
func candidates(name string, k, hi int) []string {
	side, fs := sideNames(hi)
	var gii []string
	var fsn string
	switch k {
	case SurfInflated:
		gii, fsn = []string{"infl_" + side, "pial_inflated." + side}, "inflated"
	case SurfPial:
		gii, fsn = []string{"pial_" + side, "pial." + side}, "pial"
	case SurfWhite:
		gii, fsn = []string{"white_" + side, "white." + side}, "white"
	case SurfSphere:
		gii, fsn = []string{"sphere_" + side, "sphere." + side}, "sphere"
	case SurfFlat:
		gii, fsn = []string{"flat_" + side, "flat." + side}, "cortex.patch.flat"
	case srcSulc:
		gii, fsn = []string{"sulc_" + side, "sulc." + side}, "sulc"
	case srcCurv:
		gii, fsn = []string{"curv_" + side, "curv." + side}, "curv"
	}
	var out []string
	for _, g := range gii {
		out = append(out, filepath.Join(name, g+".gii.gz"), filepath.Join(name, g+".gii"))
	}
	for _, d := range []string{"surf", ""} {
		out = append(out, filepath.Join(name, d, fs+"."+fsn), filepath.Join(name, d, fs+"."+fsn+".gz"))
	}
	return out
}

func isGIfTI(path string) bool {
	return strings.HasSuffix(path, ".gii") || strings.HasSuffix(path, ".gii.gz")
}

func isFile(path string) bool {
	st, err := os.Stat(path)
	return err == nil && st.Mode().IsRegular()
}

// labelSource is one ROI class with a file per hemisphere.
type labelSource struct {
	class string
	paths [2]string // relative to the sources directory
	npy   bool
}

// sourceSet lists the files of one resolution, relative to dir.
type sourceSet struct {
	dir, name string
	files     [numSrc][2]string
	labels    []labelSource
}

// findSources picks the source files of resolution name under dir.
func findSources(dir, name string) (*sourceSet, error) {
	s := &sourceSet{dir: dir, name: name}
	for k := range numSrc {
		for hi := range 2 {
			for _, c := range candidates(name, k, hi) {
				if isFile(filepath.Join(dir, c)) {
					s.files[k][hi] = c
					break
				}
			}
		}
		lh, rh := s.files[k][0], s.files[k][1]
		what := map[int]string{srcSulc: "sulcal depth", srcCurv: "curvature"}[k]
		if k < NumSurfaces {
			what = SurfaceName(k) + " surface"
		}
		if (lh == "") != (rh == "") {
			have, lack := lh, "rh"
			if lh == "" {
				have, lack = rh, "lh"
			}
			return nil, fmt.Errorf("meshes: sources %s: %s %s is present (%s) but %s's is not (looked for %s)",
				dir, name, what, have, lack, strings.Join(candidates(name, k, 1-sideIndex(lack)), ", "))
		}
		if (k == SurfInflated || k == srcSulc) && lh == "" {
			return nil, fmt.Errorf("meshes: sources %s: no %s %s (looked for %s).\n%s",
				dir, name, what, strings.Join(candidates(name, k, 0), ", "), howToGet)
		}
	}
	seen := map[string]bool{}
	add := func(l labelSource) {
		if !seen[l.class] {
			seen[l.class] = true
			s.labels = append(s.labels, l)
		}
	}
	for _, d := range []string{filepath.Join("algonauts2023", "roi_masks"), "roi_masks", filepath.Join(name, "roi_masks")} {
		lhs, _ := filepath.Glob(filepath.Join(dir, d, "lh.*_fsaverage_space.npy"))
		for _, p := range lhs {
			class := strings.TrimSuffix(strings.TrimPrefix(filepath.Base(p), "lh."), "_fsaverage_space.npy")
			rh := filepath.Join(d, "rh."+class+"_fsaverage_space.npy")
			if isFile(filepath.Join(dir, rh)) {
				add(labelSource{class: class, paths: [2]string{filepath.Join(d, filepath.Base(p)), rh}, npy: true})
			}
		}
	}
	for _, d := range []string{"nsd-fsaverage-labels", "algonauts2023", filepath.Join(name, "label"), filepath.Join("fsaverage", "label")} {
		for _, ext := range []string{".mgz", ".mgh"} {
			lhs, _ := filepath.Glob(filepath.Join(dir, d, "lh.*"+ext))
			for _, p := range lhs {
				class := strings.TrimSuffix(strings.TrimPrefix(filepath.Base(p), "lh."), ext)
				rh := filepath.Join(d, "rh."+class+ext)
				if isFile(filepath.Join(dir, rh)) {
					add(labelSource{class: class, paths: [2]string{filepath.Join(d, filepath.Base(p)), rh}})
				}
			}
		}
	}
	return s, nil
}

func sideIndex(fs string) int {
	if fs == "lh" {
		return 0
	}
	return 1
}

// paths returns every source file, relative to dir, in a fixed order.
func (s *sourceSet) paths() []string {
	var out []string
	for k := range numSrc {
		for hi := range 2 {
			if p := s.files[k][hi]; p != "" {
				out = append(out, p)
			}
		}
	}
	for _, l := range s.labels {
		out = append(out, l.paths[0], l.paths[1])
	}
	return out
}

// fingerprint hashes the format version, the resolution and each source
// file's name, size and modification time.
func (s *sourceSet) fingerprint() (string, error) {
	h := sha256.New()
	fmt.Fprintf(h, "cortexcast mesh bundle v%d\n%s\n", BundleVersion, s.name)
	for _, p := range s.paths() {
		st, err := os.Stat(filepath.Join(s.dir, p))
		if err != nil {
			return "", fmt.Errorf("meshes: fingerprint sources: %w", err)
		}
		fmt.Fprintf(h, "%s\t%d\t%d\n", filepath.ToSlash(p), st.Size(), st.ModTime().UnixNano())
	}
	return hex.EncodeToString(h.Sum(nil)[:16]), nil
}

// HasResolution reports whether dir holds the inflated surfaces of
// resolution name (in any supported layout).
func HasResolution(dir, name string) bool {
	for _, c := range candidates(name, SurfInflated, 0) {
		if isFile(filepath.Join(dir, c)) {
			return true
		}
	}
	return false
}

// SourcesFingerprint returns the fingerprint BuildBundle stores in
// Bundle.Sources for resolution name under dir: it changes when a source
// file is added, removed, resized or touched.
func SourcesFingerprint(dir, name string) (string, error) {
	s, err := findSources(dir, name)
	if err != nil {
		return "", err
	}
	return s.fingerprint()
}

// KnownLabelNames returns the label names of the ROI classes whose tables
// are known (NSD's .mgz.ctab conventions), index = label value.
func KnownLabelNames(class string) []string {
	switch class {
	case "prf-visualrois":
		return []string{"Unknown", "V1v", "V1d", "V2v", "V2d", "V3v", "V3d", "hV4"}
	case "streams":
		return []string{"Unknown", "early", "midventral", "midlateral", "midparietal", "ventral", "lateral", "parietal"}
	case "highlevelvisual":
		return []string{"Unknown", "pVTC", "aVTC", "V1", "V2", "V3"}
	case "nsdgeneralRSC":
		return []string{"Unknown", "RSC"}
	case "nsdgeneral":
		return []string{"Unknown", "nsdgeneral"}
	case "floc-faces":
		return []string{"Unknown", "OFA", "FFA-1", "FFA-2", "mTL-faces", "aTL-faces"}
	case "floc-bodies":
		return []string{"Unknown", "EBA", "FBA-1", "FBA-2", "mTL-bodies"}
	case "floc-places":
		return []string{"Unknown", "OPA", "PPA", "RSC"}
	case "floc-words":
		return []string{"Unknown", "OWFA", "VWFA-1", "VWFA-2", "mfs-words", "mTL-words"}
	}
	return nil
}

// BuildBundle reads the sources of resolution name under dir into a
// Bundle: surfaces (inflated and sulcal depth required; pial, white,
// sphere, flat and curvature when present) from nilearn's GIfTI files
// (<dir>/<name>/infl_left.gii.gz …) or a FreeSurfer subject
// (<dir>/<name>/surf/lh.inflated …), the flat map from flat_*.gii(.gz) or
// a FreeSurfer patch ({lh,rh}.cortex.patch.flat, with the mesh triangles
// whose vertices are all in the patch), ROI labels from the Algonauts
// .npy masks (<dir>/algonauts2023/roi_masks/…) and .mgz label maps
// (<dir>/nsd-fsaverage-labels/…, <dir>/<name>/label/…), sub-sampled to the
// first NumVertices vertices when they are full-fsaverage maps. It
// computes vertex normals and quantises the bundle (HemiMesh.Quantize), so
// that the result equals what DecodeBundle returns for its encoding.
func BuildBundle(dir, name string) (*Bundle, error) {
	s, err := findSources(dir, name)
	if err != nil {
		return nil, err
	}
	fp, err := s.fingerprint()
	if err != nil {
		return nil, err
	}
	b := &Bundle{Name: name, Sources: fp}
	if strings.HasPrefix(name, "fsaverage") {
		b.FullVertices = FsaverageVertices
	}
	for hi := range b.Hemis {
		if err := s.buildHemi(&b.Hemis[hi], hi); err != nil {
			return nil, fmt.Errorf("meshes: build bundle %s %s: %w", name, HemiName(hi), err)
		}
	}
	return b, nil
}

func (s *sourceSet) abs(rel string) string { return filepath.Join(s.dir, rel) }

func (s *sourceSet) readSurface(rel string) (*Surface, error) {
	if isGIfTI(rel) {
		return ReadSurface(s.abs(rel))
	}
	return ReadFreeSurferSurface(s.abs(rel))
}

func (s *sourceSet) readScalars(rel string, n int) ([]float32, error) {
	var v []float32
	var err error
	if isGIfTI(rel) {
		v, err = ReadShape(s.abs(rel))
	} else {
		v, err = ReadCurv(s.abs(rel))
	}
	if err != nil {
		return nil, err
	}
	if len(v) != n {
		return nil, fmt.Errorf("%s has %d values, the mesh has %d vertices", s.abs(rel), len(v), n)
	}
	return v, nil
}

func (s *sourceSet) buildHemi(h *HemiMesh, hi int) error {
	inflPath := s.files[SurfInflated][hi]
	infl, err := s.readSurface(inflPath)
	if err != nil {
		return err
	}
	n := infl.NumVertices()
	h.NumVertices, h.Inflated, h.Triangles = n, infl.Positions, infl.Triangles
	for _, k := range []int{SurfPial, SurfWhite, SurfSphere} {
		rel := s.files[k][hi]
		if rel == "" {
			continue
		}
		sf, err := s.readSurface(rel)
		if err != nil {
			return err
		}
		if sf.NumVertices() != n || len(sf.Triangles) != len(infl.Triangles) {
			return fmt.Errorf("%s has %d vertices and %d triangles, %s has %d and %d",
				s.abs(rel), sf.NumVertices(), len(sf.Triangles)/3, s.abs(inflPath), n, len(infl.Triangles)/3)
		}
		for i, v := range sf.Triangles {
			if v != infl.Triangles[i] {
				return fmt.Errorf("%s triangle %d differs from %s's: the surfaces do not share a topology", s.abs(rel), i/3, s.abs(inflPath))
			}
		}
		*h.positionsField(k) = sf.Positions
	}
	if rel := s.files[SurfFlat][hi]; rel != "" {
		if isGIfTI(rel) {
			sf, err := ReadSurface(s.abs(rel))
			if err != nil {
				return err
			}
			if sf.NumVertices() != n {
				return fmt.Errorf("%s has %d vertices, %s has %d", s.abs(rel), sf.NumVertices(), s.abs(inflPath), n)
			}
			h.Flat, h.FlatTriangles = sf.Positions, sf.Triangles
		} else {
			p, err := ReadPatch(s.abs(rel))
			if err != nil {
				return err
			}
			pos, in, err := p.Embed(n)
			if err != nil {
				return fmt.Errorf("%s: %w", s.abs(rel), err)
			}
			h.Flat, h.FlatTriangles = pos, TrianglesWithin(h.Triangles, in)
			if len(h.FlatTriangles) == 0 {
				return fmt.Errorf("%s: no triangle of %s has all its vertices in the patch", s.abs(rel), s.abs(inflPath))
			}
		}
	}
	if h.Sulc, err = s.readScalars(s.files[srcSulc][hi], n); err != nil {
		return err
	}
	if rel := s.files[srcCurv][hi]; rel != "" {
		if h.Curv, err = s.readScalars(rel, n); err != nil {
			return err
		}
	}
	for _, l := range s.labels {
		var v []uint16
		if l.npy {
			v, err = ReadLabelsNpy(s.abs(l.paths[hi]))
		} else {
			v, err = ReadLabelsMGH(s.abs(l.paths[hi]))
		}
		if err != nil {
			return err
		}
		switch {
		case len(v) == n:
		case len(v) == FsaverageVertices && n < FsaverageVertices:
			v = v[:n:n] // fsaverage5/6 vertices are the first of fsaverage's
		default:
			return fmt.Errorf("labels %s have %d values, want %d (this mesh) or %d (full fsaverage, sub-sampled)",
				s.abs(l.paths[hi]), len(v), n, FsaverageVertices)
		}
		h.Labels = append(h.Labels, LabelMap{Class: l.class, Names: KnownLabelNames(l.class), Values: v})
	}
	h.ComputeNormals()
	h.Quantize()
	if err := h.Validate(); err != nil {
		return err
	}
	return nil
}

// BundleFiles names the files WriteBundleFiles wrote and their sizes.
type BundleFiles struct {
	Raw, Gzip           string
	RawBytes, GzipBytes int64
}

// BundleFileName returns the file name of an encoded bundle:
// <name>.ccmb (and <name>.ccmb.gz gzip-compressed).
func BundleFileName(name string) string { return name + ".ccmb" }

// WriteBundleFiles writes b into dir as <name>.ccmb and <name>.ccmb.gz,
// each atomically (temporary file, sync, rename).
func WriteBundleFiles(dir string, b *Bundle) (BundleFiles, error) {
	var f BundleFiles
	raw, err := b.MarshalBinary()
	if err != nil {
		return f, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return f, fmt.Errorf("meshes: write bundle: %w", err)
	}
	f.Raw = filepath.Join(dir, BundleFileName(b.Name))
	f.Gzip = f.Raw + ".gz"
	if err := npy.WriteFile(f.Raw, func(w io.Writer) error { _, err := w.Write(raw); return err }); err != nil {
		return f, fmt.Errorf("meshes: write bundle %s: %w", f.Raw, err)
	}
	err = npy.WriteFile(f.Gzip, func(w io.Writer) error {
		cw := &countWriter{w: w}
		if err := gzipTo(cw, raw); err != nil {
			return err
		}
		f.GzipBytes = cw.n
		return nil
	})
	if err != nil {
		return f, fmt.Errorf("meshes: write bundle %s: %w", f.Gzip, err)
	}
	f.RawBytes = int64(len(raw))
	return f, nil
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// readCachedBundle decodes dir/<name>.ccmb when it exists, was built from
// sources with fingerprint fp, and its .gz companion exists.
func readCachedBundle(dir, name, fp string) (*Bundle, bool) {
	path := filepath.Join(dir, BundleFileName(name))
	raw, err := os.ReadFile(path)
	if err != nil || !isFile(path+".gz") {
		return nil, false
	}
	b, err := UnmarshalBundle(raw)
	if err != nil || b.Sources != fp || b.Name != name {
		return nil, false
	}
	return b, true
}

// LoadOrBuild returns the bundle of resolution name from srcDir, reading it
// from cacheDir when a bundle built from the same sources (same
// fingerprint) is there, else building it and writing it to cacheDir. When
// only the cache write fails, it returns the bundle together with the
// error.
func LoadOrBuild(srcDir, cacheDir, name string) (*Bundle, error) {
	s, err := findSources(srcDir, name)
	if err != nil {
		return nil, err
	}
	fp, err := s.fingerprint()
	if err != nil {
		return nil, err
	}
	if b, ok := readCachedBundle(cacheDir, name, fp); ok {
		return b, nil
	}
	b, err := BuildBundle(srcDir, name)
	if err != nil {
		return nil, err
	}
	if _, err := WriteBundleFiles(cacheDir, b); err != nil {
		return b, err
	}
	return b, nil
}

// BuildResult reports one resolution of BuildAll.
type BuildResult struct {
	Name     string
	UpToDate bool // the existing files were built from the same sources
	Files    BundleFiles
	Bundle   *Bundle
	Took     time.Duration
}

// BuildAll builds a bundle for every resolution (see Resolutions) whose
// sources are in srcDir into outDir, skipping those whose existing bundle
// was built from the same sources unless force is set. It fails when
// srcDir holds none of them.
func BuildAll(srcDir, outDir string, force bool) ([]BuildResult, error) {
	var out []BuildResult
	for _, r := range Resolutions() {
		if !HasResolution(srcDir, r.Name) {
			continue
		}
		start := time.Now()
		s, err := findSources(srcDir, r.Name)
		if err != nil {
			return out, err
		}
		fp, err := s.fingerprint()
		if err != nil {
			return out, err
		}
		res := BuildResult{Name: r.Name}
		if b, ok := readCachedBundle(outDir, r.Name, fp); ok && !force {
			res.UpToDate, res.Bundle = true, b
			res.Files.Raw = filepath.Join(outDir, BundleFileName(r.Name))
			res.Files.Gzip = res.Files.Raw + ".gz"
			for _, f := range []struct {
				p string
				n *int64
			}{{res.Files.Raw, &res.Files.RawBytes}, {res.Files.Gzip, &res.Files.GzipBytes}} {
				if st, err := os.Stat(f.p); err == nil {
					*f.n = st.Size()
				}
			}
		} else {
			if res.Bundle, err = BuildBundle(srcDir, r.Name); err != nil {
				return out, err
			}
			if res.Files, err = WriteBundleFiles(outDir, res.Bundle); err != nil {
				return out, err
			}
		}
		res.Took = time.Since(start)
		out = append(out, res)
	}
	if len(out) == 0 {
		names := make([]string, 0, 3)
		for _, r := range Resolutions() {
			names = append(names, r.Name)
		}
		return nil, errors.New("meshes: build: " + srcDir + " holds none of " + strings.Join(names, ", ") + ".\n" + howToGet)
	}
	return out, nil
}
