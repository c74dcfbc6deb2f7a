package simulate

import (
	"cmp"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"

	"cortexcast/backend/algonauts"
	"cortexcast/backend/npy"
	"cortexcast/meshes"
)

// ROI classes of the Algonauts 2023 release, in file order.
var roiClasses = [...]string{"prf-visualrois", "floc-bodies", "floc-faces", "floc-places", "floc-words", "streams"}

// roiNames are the label names of each class (index = label; 0 is Unknown).
var roiNames = map[string][]string{
	"prf-visualrois": {"Unknown", "V1v", "V1d", "V2v", "V2d", "V3v", "V3d", "hV4"},
	"floc-bodies":    {"Unknown", "EBA", "FBA-1", "FBA-2", "mTL-bodies"},
	"floc-faces":     {"Unknown", "OFA", "FFA-1", "FFA-2", "mTL-faces", "aTL-faces"},
	"floc-places":    {"Unknown", "OPA", "PPA", "RSC"},
	"floc-words":     {"Unknown", "OWFA", "VWFA-1", "VWFA-2", "mfs-words", "mTL-words"},
	"streams":        {"Unknown", "early", "midventral", "midlateral", "midparietal", "ventral", "lateral", "parietal"},
}

// Stream labels.
const (
	streamEarly = iota + 1
	streamMidventral
	streamMidlateral
	streamMidparietal
	streamVentral
	streamLateral
	streamParietal
)

// flocBlob places one floc ROI: a blob of Size challenge vertices taken
// from the host streams (visual-ROI vertices excluded). With the fsaverage
// sphere at hand the blob is the Size free hosts nearest (on the sphere) to
// its centre, the host whose rank fractions in posterior→anterior order
// and in medial→lateral order are nearest (At, Lateral). Without it the
// blob is the hosts nearest in fsaverage-index order to the host at rank
// fraction At of the hosts sorted by index (such blobs are scattered over
// the stream, not compact).
type flocBlob struct {
	Class, Name string
	Label       int64
	Hosts       []int64 // stream labels
	At          float64
	Lateral     float64
	Size        int
	// Category is the content category the ROI prefers.
	Category int
}

// flocBlobs is the documented placement of the floc ROIs (real floc masks
// are not at hand). Each ROI lies in the stream that holds it anatomically:
// the ventral stream for the fusiform and medial temporal ROIs (FFA, FBA,
// PPA, VWFA, mfs/mTL/aTL), the lateral stream for the occipito-temporal
// ROIs (OFA, EBA), the parietal stream for OPA (transverse occipital
// sulcus), the midventral stream for OWFA. Along the posterior→anterior
// axis they follow the usual order (OFA/FBA-1 posterior, FFA-1 before
// FFA-2, mTL/aTL anterior); across it PPA and the mTL ROIs are medial
// (collateral sulcus, parahippocampal cortex), FFA and mfs-words on the
// mid-fusiform, VWFA lateral (occipitotemporal sulcus). RSC is the real
// RSC mask when the nsdgeneralRSC.mgz files are present. Blobs never share
// a vertex; one that meets an earlier blob grows past it.
var flocBlobs = []flocBlob{
	{"floc-faces", "OFA", 1, []int64{streamLateral}, 0.15, 0.5, 250, catFace},
	{"floc-faces", "FFA-1", 2, []int64{streamVentral}, 0.25, 0.6, 300, catFace},
	{"floc-faces", "FFA-2", 3, []int64{streamVentral}, 0.50, 0.6, 250, catFace},
	{"floc-faces", "mTL-faces", 4, []int64{streamVentral}, 0.85, 0.3, 100, catFace},
	{"floc-faces", "aTL-faces", 5, []int64{streamVentral}, 0.97, 0.6, 100, catFace},
	{"floc-bodies", "EBA", 1, []int64{streamLateral}, 0.50, 0.5, 600, catBody},
	{"floc-bodies", "FBA-1", 2, []int64{streamVentral}, 0.10, 0.7, 200, catBody},
	{"floc-bodies", "FBA-2", 3, []int64{streamVentral}, 0.40, 0.8, 200, catBody},
	{"floc-bodies", "mTL-bodies", 4, []int64{streamVentral}, 0.75, 0.2, 100, catBody},
	{"floc-places", "OPA", 1, []int64{streamParietal}, 0.30, 0.5, 400, catPlace},
	{"floc-places", "PPA", 2, []int64{streamVentral}, 0.55, 0.15, 500, catPlace},
	{"floc-words", "OWFA", 1, []int64{streamMidventral}, 0.50, 0.7, 150, catWord},
	{"floc-words", "VWFA-1", 2, []int64{streamVentral}, 0.30, 0.95, 250, catWord},
	{"floc-words", "VWFA-2", 3, []int64{streamVentral}, 0.60, 0.95, 200, catWord},
	{"floc-words", "mfs-words", 4, []int64{streamVentral}, 0.70, 0.6, 150, catWord},
	{"floc-words", "mTL-words", 5, []int64{streamVentral}, 0.90, 0.35, 100, catWord},
}

// rscLabel is RSC's label in floc-places.
const rscLabel = 3

// hemiLayout is one hemisphere's vertex layout.
type hemiLayout struct {
	hemi string
	// challenge holds the challenge vertices, ascending fsaverage indices.
	challenge []int
	// labels holds each ROI class's fsaverage-space labels.
	labels map[string][]int64
}

// MaskSource says where a dataset's masks came from.
type MaskSource struct {
	// Real is true when the visual-ROI and stream masks are the real ones
	// from Dir.
	Real bool   `json:"real"`
	Dir  string `json:"dir,omitempty"`
	// RSC is "mgz" (the real RSC mask), "synthetic" or "none".
	RSC string `json:"rsc"`
	// Floc is how the floc ROIs were placed: "sphere" (compact blobs on
	// the fsaverage sphere from Sphere) or "index" (fsaverage-index
	// neighbourhoods).
	Floc   string `json:"floc"`
	Sphere string `json:"sphere,omitempty"`
}

// sphereNames are the full-fsaverage sphere files, lh and rh.
var sphereNames = [2]string{"sphere_left.gii.gz", "sphere_right.gii.gz"}

// findSphereDir returns the directory holding both sphere files: fsDir, or
// when it is empty the fsaverage directory beside the masks
// (masksDir/../../fsaverage, the layout of shared/data); "" when neither
// has them.
func findSphereDir(fsDir, masksDir string) string {
	dir := fsDir
	if dir == "" && masksDir != "" {
		dir = filepath.Join(masksDir, "..", "..", "fsaverage")
	}
	if dir == "" {
		return ""
	}
	for _, n := range sphereNames {
		if _, err := os.Stat(filepath.Join(dir, n)); err != nil {
			return ""
		}
	}
	return filepath.Clean(dir)
}

// loadLayouts builds both hemispheres' layouts from the real masks in dir
// (with RSC from {lh,rh}.nsdgeneralRSC.mgz in dir or its parent) or, when
// dir is empty or lacks the masks, from the synthetic layout. With the real
// masks and the sphere files in sphereDir the floc ROIs are placed on the
// sphere.
func loadLayouts(dir, sphereDir string) ([2]*hemiLayout, MaskSource, error) {
	var out [2]*hemiLayout
	if dir == "" || !realMasksIn(dir) {
		for i, h := range hemis {
			out[i] = syntheticLayout(h)
		}
		return out, MaskSource{RSC: "synthetic", Floc: "index"}, nil
	}
	src := MaskSource{Real: true, Dir: dir, RSC: "mgz", Floc: "index"}
	if sphereDir != "" {
		src.Floc, src.Sphere = "sphere", sphereDir
	}
	for i, h := range hemis {
		l := &hemiLayout{hemi: h, labels: map[string][]int64{}}
		for _, class := range []string{"prf-visualrois", "streams"} {
			p := filepath.Join(dir, h+"."+class+"_fsaverage_space.npy")
			v, shape, err := npy.ReadInt64(p)
			if err != nil {
				return out, src, fmt.Errorf("simulate: masks: %w", err)
			}
			if len(shape) != 1 || shape[0] != algonauts.FsaverageVertices {
				return out, src, fmt.Errorf("simulate: mask %s has shape %v, want (%d,)", p, shape, algonauts.FsaverageVertices)
			}
			if m := slices.Max(v); m >= int64(len(roiNames[class])) || slices.Min(v) < 0 {
				return out, src, fmt.Errorf("simulate: mask %s has labels outside 0..%d", p, len(roiNames[class])-1)
			}
			l.labels[class] = v
		}
		var rsc []float64
		for _, d := range []string{dir, filepath.Dir(dir)} {
			p := filepath.Join(d, h+".nsdgeneralRSC.mgz")
			if _, err := os.Stat(p); err != nil {
				continue
			}
			m, err := meshes.ReadMGH(p)
			if err != nil {
				return out, src, fmt.Errorf("simulate: %w", err)
			}
			if rsc, err = m.VertexValues(algonauts.FsaverageVertices); err != nil {
				return out, src, fmt.Errorf("simulate: %s: %w", p, err)
			}
			break
		}
		if rsc == nil {
			src.RSC = "none"
		}
		places := make([]int64, algonauts.FsaverageVertices)
		for v, s := range l.labels["streams"] {
			if s > 0 || (rsc != nil && rsc[v] != 0) {
				l.challenge = append(l.challenge, v)
			}
			if rsc != nil && rsc[v] != 0 {
				places[v] = rscLabel
			}
		}
		l.labels["floc-places"] = places
		var sphere []float32
		if sphereDir != "" {
			p := filepath.Join(sphereDir, sphereNames[i])
			surf, err := meshes.ReadSurface(p)
			if err != nil {
				return out, src, fmt.Errorf("simulate: sphere: %w", err)
			}
			if surf.NumVertices() != algonauts.FsaverageVertices {
				return out, src, fmt.Errorf("simulate: sphere %s has %d vertices, want %d", p, surf.NumVertices(), algonauts.FsaverageVertices)
			}
			sphere = surf.Positions
		}
		placeFloc(l, sphere)
		out[i] = l
	}
	return out, src, nil
}

// realMasksIn reports whether dir holds the four real fsaverage-space masks.
func realMasksIn(dir string) bool {
	for _, h := range hemis {
		for _, class := range []string{"prf-visualrois", "streams"} {
			if _, err := os.Stat(filepath.Join(dir, h+"."+class+"_fsaverage_space.npy")); errors.Is(err, fs.ErrNotExist) {
				return false
			}
		}
	}
	return true
}

var hemis = [2]string{"lh", "rh"}

// Synthetic layout: label counts of the real left-hemisphere masks, laid
// out as consecutive fsaverage index ranges starting at syntheticStart.
// prf-visualrois V1v..hV4 fill the start of the early stream; RSC follows
// the streams. Both hemispheres use the same ranges.
var (
	syntheticStart   = 1000
	syntheticStreams = []int{5169, 867, 1091, 853, 4974, 3129, 2346}
	syntheticPRF     = []int{710, 828, 632, 692, 567, 669, 531}
	syntheticRSC     = 543
)

func syntheticLayout(hemi string) *hemiLayout {
	l := &hemiLayout{hemi: hemi, labels: map[string][]int64{}}
	streams := make([]int64, algonauts.FsaverageVertices)
	prf := make([]int64, algonauts.FsaverageVertices)
	places := make([]int64, algonauts.FsaverageVertices)
	v := syntheticStart
	for s, n := range syntheticStreams {
		for range n {
			streams[v] = int64(s + 1)
			v++
		}
	}
	for range syntheticRSC {
		places[v] = rscLabel
		v++
	}
	v = syntheticStart
	for k, n := range syntheticPRF {
		for range n {
			prf[v] = int64(k + 1)
			v++
		}
	}
	for i := range algonauts.FsaverageVertices {
		if streams[i] > 0 || places[i] != 0 {
			l.challenge = append(l.challenge, i)
		}
	}
	l.labels["streams"] = streams
	l.labels["prf-visualrois"] = prf
	l.labels["floc-places"] = places
	placeFloc(l, nil)
	return l
}

// placeFloc adds the floc-* classes' blobs (flocBlobs) to l, on the
// sphere when sphere (x, y, z per fsaverage vertex) is not nil. floc-places
// must already hold RSC.
func placeFloc(l *hemiLayout, sphere []float32) {
	for _, class := range roiClasses {
		if l.labels[class] == nil {
			l.labels[class] = make([]int64, algonauts.FsaverageVertices)
		}
	}
	taken := make([]bool, algonauts.FsaverageVertices)
	for v, p := range l.labels["floc-places"] {
		taken[v] = p != 0
	}
	// Lateral is −x on the left hemisphere's sphere and +x on the right's.
	lateral := 1.0
	if l.hemi == "lh" {
		lateral = -1
	}
	for _, b := range flocBlobs {
		var hosts []int
		for _, v := range l.challenge {
			if slices.Contains(b.Hosts, l.labels["streams"][v]) && l.labels["prf-visualrois"][v] == 0 {
				hosts = append(hosts, v)
			}
		}
		if len(hosts) == 0 {
			continue
		}
		var order []int // hosts in the order the blob takes them
		if sphere == nil {
			// Outwards from the centre rank, alternating sides.
			c := min(int(b.At*float64(len(hosts))), len(hosts)-1)
			for d := 0; c-d >= 0 || c+d < len(hosts); d++ {
				if c-d >= 0 {
					order = append(order, hosts[c-d])
				}
				if d > 0 && c+d < len(hosts) {
					order = append(order, hosts[c+d])
				}
			}
		} else {
			qy := rankFractions(hosts, func(v int) float64 { return float64(sphere[3*v+1]) })
			qx := rankFractions(hosts, func(v int) float64 { return lateral * float64(sphere[3*v]) })
			best, bd := 0, math.Inf(1)
			for i := range hosts {
				if d := math.Hypot(qy[i]-b.At, qx[i]-b.Lateral); d < bd {
					best, bd = i, d
				}
			}
			c := hosts[best]
			dist := func(v int) float64 {
				dx := float64(sphere[3*v] - sphere[3*c])
				dy := float64(sphere[3*v+1] - sphere[3*c+1])
				dz := float64(sphere[3*v+2] - sphere[3*c+2])
				return dx*dx + dy*dy + dz*dz
			}
			order = slices.Clone(hosts)
			slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(dist(a), dist(b)) })
		}
		dst := l.labels[b.Class]
		got := 0
		for _, v := range order {
			if got == b.Size {
				break
			}
			if !taken[v] {
				taken[v] = true
				dst[v] = b.Label
				got++
			}
		}
	}
}

// rankFractions returns, for each vertex of vs, (rank + 0.5)/len(vs) of
// key(v) among them (ties broken by position).
func rankFractions(vs []int, key func(int) float64) []float64 {
	idx := make([]int, len(vs))
	for i := range idx {
		idx[i] = i
	}
	slices.SortStableFunc(idx, func(a, b int) int { return cmp.Compare(key(vs[a]), key(vs[b])) })
	q := make([]float64, len(vs))
	for r, i := range idx {
		q[i] = (float64(r) + 0.5) / float64(len(vs))
	}
	return q
}

// challengeMask returns class's labels restricted to the challenge vertices.
func (h *hemiLayout) challengeMask(class string) []int64 {
	out := make([]int64, len(h.challenge))
	for j, v := range h.challenge {
		out[j] = h.labels[class][v]
	}
	return out
}
