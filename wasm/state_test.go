package main

import (
	"reflect"
	"strings"
	"testing"
)

func TestStateRoundTrip(t *testing.T) {
	tests := []viewState{
		defaultState(),
		{Subject: 3, Model: "subj03_baseline_gabor-v1", Mesh: "fsaverage", Mode: "correlation", Surface: "flat", Layout: "side-by-side",
			Azimuth: 12.345678, Elevation: -90, Zoom: 0.25, Colormap: "viridis", Threshold: 0.1,
			Symmetric: false, Opacity: 0.3, Image: "my photo & cat=1.png", ROIs: []string{"prf-visualrois", "floc-faces"}},
		{Subject: 1, Mode: "measured", Surface: "pial", Layout: "single", Azimuth: 359.99, Elevation: 89.5,
			Zoom: 20, Colormap: "coolwarm", Symmetric: true, Opacity: 1, Image: "shared0042"},
	}
	for _, s := range tests {
		h := s.encode()
		got, err := parseState("#" + h)
		if err != nil {
			t.Fatalf("parse %q: %v", h, err)
		}
		if !reflect.DeepEqual(got, s) {
			t.Errorf("round trip through %q:\n got %+v\nwant %+v", h, got, s)
		}
	}
	if h := defaultState().encode(); h != "" {
		t.Errorf("default state encodes as %q, want empty", h)
	}
	want := "az=90&el=0&mesh=fsaverage&mode=measured&model=subj01_ridge-kfold_gabor&roi=streams&surface=flat"
	s := defaultState()
	s.Mode, s.Surface, s.Azimuth, s.Elevation, s.ROIs = "measured", "flat", 90, 0, []string{"streams"}
	s.Mesh, s.Model = "fsaverage", "subj01_ridge-kfold_gabor"
	if h := s.encode(); h != want {
		t.Errorf("encode = %q, want %q", h, want)
	}
}

func TestParseStateErrors(t *testing.T) {
	tests := []struct{ hash, want string }{
		{"surface=cube", `surface="cube"`},
		{"cmap=jet", `cmap="jet"`},
		{"az=NaN", `az="NaN": not a number`},
		{"el=91", `el="91": outside [-90, 90]`},
		{"zoom=0", `zoom="0": outside`},
		{"opacity=2", `opacity="2"`},
		{"thr=-1", `thr="-1"`},
		{"sym=maybe", `sym="maybe"`},
		{"subject=x", `subject="x"`},
		{"roi=a,,b", `roi="a,,b"`},
		{"mesh=../x", `mesh="../x": not a mesh name`},
		{"mesh=", `mesh="": not a mesh name`},
		{"mesh=" + strings.Repeat("f", 65), "not a mesh name"},
		{"mode=%zz", "invalid URL escape"},
		{strings.Repeat("a", maxStateLen+1), "limit"},
	}
	for _, tc := range tests {
		_, err := parseState(tc.hash)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("parseState(%q) = %v, want an error containing %q", tc.hash, err, tc.want)
		}
	}
	// Unknown keys are ignored; good keys beside a bad one still apply.
	s, err := parseState("future=1&surface=white&cmap=jet")
	if err == nil || s.Surface != "white" || s.Colormap != "RdBu_r" {
		t.Errorf("mixed state: %+v, %v", s, err)
	}
}

func FuzzParseState(f *testing.F) {
	f.Add("az=1&el=2&zoom=3&roi=a,b&image=x")
	f.Add(defaultState().encode())
	f.Add("%%%&&==")
	f.Add("mesh=fsaverage&model=subj01_baseline_gabor")
	f.Fuzz(func(t *testing.T, hash string) {
		s, err := parseState(hash)
		if err != nil {
			return
		}
		// What parses re-encodes to a hash that parses to the same state.
		again, err := parseState(s.encode())
		if err != nil {
			t.Fatalf("re-parse of %q: %v", s.encode(), err)
		}
		if !reflect.DeepEqual(again, s) {
			t.Fatalf("state changed: %+v vs %+v", s, again)
		}
	})
}
