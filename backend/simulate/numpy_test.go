package simulate

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"testing"

	"cortexcast/backend/algonauts"
)

// numpyCheck is what the Python snippet of TestDatasetLoadsInNumpy
// reports about one subject.
type numpyCheck struct {
	// FMRI, AllVertices and Truth give shape and dtype by hemisphere (and
	// by truth file name).
	FMRI        map[string]npArray `json:"fmri"`
	AllVertices map[string]npArray `json:"all_vertices"`
	Challenge   map[string]int     `json:"challenge"` // nonzero entries of the all-vertices mask
	Truth       map[string]npArray `json:"truth"`
	// Masks by "hemi.class": shapes and whether the challenge-space mask
	// equals the fsaverage one restricted to the all-vertices mask, and
	// whether nothing is labelled outside it.
	Masks map[string]npMask `json:"masks"`
	// Mappings by class, as [label, name] pairs.
	Mappings map[string][][2]json.RawMessage `json:"mappings"`
}

type npArray struct {
	Shape []int  `json:"shape"`
	DType string `json:"dtype"`
}

type npMask struct {
	Fsaverage  npArray `json:"fsaverage"`
	Challenge  npArray `json:"challenge"`
	Restricted bool    `json:"restricted_equal"`
	OutsideOK  bool    `json:"outside_zero"`
}

const numpyScript = `
import json, os, sys
import numpy as np
root, truth, subj = sys.argv[1], sys.argv[2], sys.argv[3]
classes = sys.argv[4].split(",")
s = os.path.join(root, subj)
m = os.path.join(s, "roi_masks")
def arr(a):
    return {"shape": list(a.shape), "dtype": a.dtype.str}
res = {"fmri": {}, "all_vertices": {}, "challenge": {}, "truth": {}, "masks": {}, "mappings": {}}
for h in ("lh", "rh"):
    res["fmri"][h] = arr(np.load(os.path.join(s, "training_split", "training_fmri", h + "_training_fmri.npy")))
    allv = np.load(os.path.join(m, h + ".all-vertices_fsaverage_space.npy"))
    res["all_vertices"][h] = arr(allv)
    sel = allv != 0
    res["challenge"][h] = int(sel.sum())
    for name in ("_test_true.npy", "_test_measured.npy", "_ncsnr.npy"):
        res["truth"][h + name] = arr(np.load(os.path.join(truth, subj, h + name)))
    for c in classes:
        fs = np.load(os.path.join(m, "%s.%s_fsaverage_space.npy" % (h, c)))
        ch = np.load(os.path.join(m, "%s.%s_challenge_space.npy" % (h, c)))
        res["masks"][h + "." + c] = {
            "fsaverage": arr(fs), "challenge": arr(ch),
            "restricted_equal": bool(fs.shape == allv.shape and np.array_equal(fs[sel], ch)),
            "outside_zero": bool(fs.shape == allv.shape and not np.any(fs[~sel])),
        }
for c in classes:
    d = np.load(os.path.join(m, "mapping_" + c + ".npy"), allow_pickle=True).item()
    assert type(d) is dict, type(d)
    res["mappings"][c] = [[k, v] for k, v in d.items()]
print(json.dumps(res))
`

// TestDatasetLoadsInNumpy: numpy loads every fMRI, mask, mapping and truth
// file that Generate writes, with the shapes the configuration implies;
// each challenge-space mask is the fsaverage mask restricted to the
// all-vertices mask; and the mapping dicts are the challenge's label
// tables. It runs on the synthetic layout and, when ../shared/data has
// them, on the real masks.
func TestDatasetLoadsInNumpy(t *testing.T) {
	const python = "/usr/bin/python3"
	if _, err := os.Stat(python); err != nil {
		t.Skipf("%s is not available (%v): the numpy check is skipped", python, err)
	}
	if out, err := exec.Command(python, "-c", "import numpy").CombinedOutput(); err != nil {
		t.Skipf("%s cannot import numpy (%v: %s): the numpy check is skipped", python, err, out)
	}
	t.Run("synthetic", func(t *testing.T) {
		root := tinyDataset(t)
		checkInNumpy(t, python, tinyConfig(root))
	})
	t.Run("real masks", func(t *testing.T) {
		data := sharedData(t)
		cfg := Config{Root: filepath.Join(t.TempDir(), "ds"), Subjects: 2, Train: 3, Test: 2, Seed: 4,
			MasksDir: filepath.Join(data, "algonauts2023", "roi_masks")}
		if err := Generate(context.Background(), cfg); err != nil {
			t.Fatal(err)
		}
		checkInNumpy(t, python, cfg)
	})
}

func checkInNumpy(t *testing.T, python string, cfg Config) {
	t.Helper()
	m, err := ReadMarker(cfg.Root)
	if err != nil {
		t.Fatal(err)
	}
	classes := algonauts.ROIClasses()
	csv := classes[0]
	for _, c := range classes[1:] {
		csv += "," + c
	}
	for s := 1; s <= cfg.Subjects; s++ {
		subj := fmt.Sprintf("subj%02d", s)
		out, err := exec.Command(python, "-c", numpyScript, cfg.Root, TruthDir(cfg.Root), subj, csv).CombinedOutput()
		if err != nil {
			t.Fatalf("%s: numpy could not load the dataset: %v\n%s", subj, err, out)
		}
		var got numpyCheck
		if err := json.Unmarshal(out, &got); err != nil {
			t.Fatalf("%s: %v: %s", subj, err, out)
		}
		for hi, h := range algonauts.Hemis() {
			hs := string(h)
			v := m.Vertices[hi]
			if got.Challenge[hs] != v || v == 0 {
				t.Errorf("%s %s: numpy counts %d challenge vertices, the marker says %d", subj, h, got.Challenge[hs], v)
			}
			checkArray(t, subj+" "+hs+" fMRI", got.FMRI[hs], []int{cfg.Train, v}, "<f4")
			checkArray(t, subj+" "+hs+" all-vertices mask", got.AllVertices[hs], []int{algonauts.FsaverageVertices}, "")
			checkArray(t, subj+" "+hs+"_test_true", got.Truth[hs+"_test_true.npy"], []int{cfg.Test, v}, "<f4")
			checkArray(t, subj+" "+hs+"_test_measured", got.Truth[hs+"_test_measured.npy"], []int{cfg.Test, v}, "<f4")
			checkArray(t, subj+" "+hs+"_ncsnr", got.Truth[hs+"_ncsnr.npy"], []int{v}, "<f4")
			for _, c := range classes {
				key := hs + "." + c
				mk, ok := got.Masks[key]
				if !ok {
					t.Errorf("%s %s: numpy reported nothing", subj, key)
					continue
				}
				checkArray(t, subj+" "+key+" fsaverage mask", mk.Fsaverage, []int{algonauts.FsaverageVertices}, "")
				checkArray(t, subj+" "+key+" challenge mask", mk.Challenge, []int{v}, "")
				if !mk.Restricted {
					t.Errorf("%s %s: the challenge-space mask is not the fsaverage mask at the all-vertices mask", subj, key)
				}
				if !mk.OutsideOK {
					t.Errorf("%s %s: the fsaverage mask labels vertices outside the challenge vertices", subj, key)
				}
			}
		}
		for _, c := range classes {
			want, err := algonauts.DefaultMapping(c)
			if err != nil {
				t.Fatal(err)
			}
			pairs := got.Mappings[c]
			gotMap := map[int]string{}
			for _, p := range pairs {
				var k int
				var name string
				if err := json.Unmarshal(p[0], &k); err != nil {
					t.Fatalf("%s mapping %s: key %s is not an int: %v", subj, c, p[0], err)
				}
				if err := json.Unmarshal(p[1], &name); err != nil {
					t.Fatalf("%s mapping %s: value %s is not a string: %v", subj, c, p[1], err)
				}
				gotMap[k] = name
			}
			if len(pairs) != len(want) || !maps.Equal(gotMap, want) {
				t.Errorf("%s mapping %s: numpy loads %v, want %v", subj, c, gotMap, want)
			}
		}
	}
}

// checkArray compares what numpy reports with the wanted shape and, when
// dtype is not empty, dtype; masks may be any integer or float dtype numpy
// can compare, so for them only the kind is checked.
func checkArray(t *testing.T, what string, got npArray, shape []int, dtype string) {
	t.Helper()
	if !slices.Equal(got.Shape, shape) {
		t.Errorf("%s: numpy shape %v, want %v", what, got.Shape, shape)
	}
	switch {
	case dtype != "" && got.DType != dtype:
		t.Errorf("%s: numpy dtype %s, want %s", what, got.DType, dtype)
	case dtype == "" && (len(got.DType) < 3 || !slices.Contains([]byte("iuf"), got.DType[1])):
		t.Errorf("%s: numpy dtype %q is not numeric", what, got.DType)
	case dtype == "":
		if n, err := strconv.Atoi(got.DType[2:]); err != nil || n < 1 {
			t.Errorf("%s: numpy dtype %q", what, got.DType)
		}
	}
}
