package main

import (
	"fmt"
	"math"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// viewState is everything that a shared link restores: it lives in the page URL's hash as
// a query string (see encode and parseState).
type viewState struct {
	Subject   int
	Model     string // the stored model predicting ("": the subject's served model)
	Mesh      string // the mesh resolution ("": the server's default, fsaverage5)
	Mode      string // one of modes()
	Surface   string // one of surfaces()
	Layout    string // "single" or "side-by-side"
	Azimuth   float32
	Elevation float32
	Zoom      float32
	Colormap  string // one of colormaps()
	Threshold float32
	Symmetric bool
	Opacity   float32
	Image     string   // the image shown (an uploaded file's name or a dataset image id)
	ROIs      []string // the ROI classes whose outlines are shown
}

// Limits of what a URL may ask for.
const (
	maxStateLen = 4096
	maxNameLen  = 256
)

// The accepted values of the state's names.
func modes() []string     { return []string{"predicted", "measured", "correlation", "difference"} }
func surfaces() []string  { return []string{"inflated", "pial", "white", "sphere", "flat"} }
func colormaps() []string { return []string{"RdBu_r", "coolwarm", "viridis"} }
func layouts() []string   { return []string{"single", "side-by-side"} }

// defaultState is the page's state before the user changes anything: the viewer's default
// camera (posterior-lateral from slightly below).
func defaultState() viewState {
	return viewState{Mode: "predicted", Surface: "inflated", Layout: "single", Azimuth: 240, Elevation: -15, Zoom: 1,
		Colormap: "RdBu_r", Symmetric: true, Opacity: 1}
}

func formatFloat(x float32) string { return strconv.FormatFloat(float64(x), 'g', -1, 32) }

// encode returns the state as a URL hash (without the '#'): a query string with sorted
// keys, fields at their default omitted.
func (s viewState) encode() string {
	d := defaultState()
	q := url.Values{}
	if s.Subject != d.Subject {
		q.Set("subject", strconv.Itoa(s.Subject))
	}
	str := func(key, v, def string) {
		if v != def {
			q.Set(key, v)
		}
	}
	num := func(key string, v, def float32) {
		if v != def {
			q.Set(key, formatFloat(v))
		}
	}
	str("model", s.Model, d.Model)
	str("mesh", s.Mesh, d.Mesh)
	str("mode", s.Mode, d.Mode)
	str("surface", s.Surface, d.Surface)
	str("layout", s.Layout, d.Layout)
	num("az", s.Azimuth, d.Azimuth)
	num("el", s.Elevation, d.Elevation)
	num("zoom", s.Zoom, d.Zoom)
	str("cmap", s.Colormap, d.Colormap)
	num("thr", s.Threshold, d.Threshold)
	if s.Symmetric != d.Symmetric {
		q.Set("sym", strconv.FormatBool(s.Symmetric))
	}
	num("opacity", s.Opacity, d.Opacity)
	str("image", s.Image, d.Image)
	if len(s.ROIs) > 0 {
		q.Set("roi", strings.Join(s.ROIs, ","))
	}
	return q.Encode()
}

// parseState reads a URL hash (with or without the leading '#'); missing keys keep their
// defaults, unknown keys are ignored, and a bad value is an error naming its key.
func parseState(hash string) (viewState, error) {
	s := defaultState()
	hash = strings.TrimPrefix(hash, "#")
	if len(hash) > maxStateLen {
		return s, fmt.Errorf("view state: %d bytes, the limit is %d", len(hash), maxStateLen)
	}
	q, err := url.ParseQuery(hash)
	if err != nil {
		return s, fmt.Errorf("view state: %w", err)
	}
	var errs []string
	bad := func(key, v, why string) { errs = append(errs, fmt.Sprintf("%s=%q: %s", key, v, why)) }
	name := func(key string, dst *string, allowed []string) {
		v, ok := q[key]
		if !ok {
			return
		}
		switch {
		case len(v[0]) > maxNameLen:
			bad(key, v[0][:32]+"…", "too long")
		case allowed != nil && !slices.Contains(allowed, v[0]):
			bad(key, v[0], "want one of "+strings.Join(allowed, ", "))
		default:
			*dst = v[0]
		}
	}
	num := func(key string, dst *float32, lo, hi float32) {
		v, ok := q[key]
		if !ok {
			return
		}
		f, err := strconv.ParseFloat(v[0], 32)
		switch {
		case err != nil || math.IsNaN(f):
			bad(key, v[0], "not a number")
		case float32(f) < lo || float32(f) > hi:
			bad(key, v[0], fmt.Sprintf("outside [%s, %s]", formatFloat(lo), formatFloat(hi)))
		default:
			*dst = float32(f)
		}
	}
	if v, ok := q["subject"]; ok {
		n, err := strconv.Atoi(v[0])
		if err != nil || n < 0 || n > 1000 {
			bad("subject", v[0], "not a subject number")
		} else {
			s.Subject = n
		}
	}
	name("model", &s.Model, nil)
	if v, ok := q["mesh"]; ok {
		if !isMeshName(v[0]) {
			bad("mesh", v[0][:min(len(v[0]), 32)], "not a mesh name (fsaverage5, fsaverage, …)")
		} else {
			s.Mesh = v[0]
		}
	}
	name("mode", &s.Mode, modes())
	name("surface", &s.Surface, surfaces())
	name("layout", &s.Layout, layouts())
	num("az", &s.Azimuth, -360, 360)
	num("el", &s.Elevation, -90, 90)
	num("zoom", &s.Zoom, 0.25, 20)
	name("cmap", &s.Colormap, colormaps())
	num("thr", &s.Threshold, 0, math.MaxFloat32)
	if v, ok := q["sym"]; ok {
		b, err := strconv.ParseBool(v[0])
		if err != nil {
			bad("sym", v[0], "want true or false")
		} else {
			s.Symmetric = b
		}
	}
	num("opacity", &s.Opacity, 0, 1)
	name("image", &s.Image, nil)
	if v, ok := q["roi"]; ok && v[0] != "" {
		for _, c := range strings.Split(v[0], ",") {
			if c == "" || len(c) > maxNameLen || len(s.ROIs) >= 64 {
				bad("roi", v[0], "bad class list")
				s.ROIs = nil
				break
			}
			s.ROIs = append(s.ROIs, c)
		}
	}
	if len(errs) > 0 {
		return s, fmt.Errorf("view state: %s", strings.Join(errs, "; "))
	}
	return s, nil
}

// isMeshName reports whether s can name a mesh resolution: 1 to 64 lower-case letters,
// digits, '-' or '_'.
func isMeshName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}
