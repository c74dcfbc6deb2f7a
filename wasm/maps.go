package main

import (
	"encoding/json"
	"math"
	"slices"
)

// toMesh places a map given in challenge-vertex order onto a mesh of n vertices per
// hemisphere. idx holds the fsaverage index of each challenge vertex; fsaverage5's vertices
// are the first 10,242 of fsaverage's, so challenge vertices with larger indices are not on
// the mesh. Mesh vertices without a value are NaN (the viewer shows the underlay there).
func toMesh(vals []float32, idx []int32, n int) []float32 {
	out := make([]float32, n)
	nan := float32(math.NaN())
	for i := range out {
		out[i] = nan
	}
	for j, v := range vals {
		if j >= len(idx) {
			break
		}
		if k := int(idx[j]); k >= 0 && k < n {
			out[k] = v
		}
	}
	return out
}

// symmetricLimit returns the 98th percentile of |value| over the finite values of both
// hemispheres: a color range that one outlier vertex cannot flatten. It is 1 when no value
// is finite or all are zero.
func symmetricLimit(maps [2][]float32) float32 {
	var abs []float32
	for _, m := range maps {
		for _, v := range m {
			if !math.IsNaN(float64(v)) && !math.IsInf(float64(v), 0) {
				abs = append(abs, float32(math.Abs(float64(v))))
			}
		}
	}
	if len(abs) == 0 {
		return 1
	}
	slices.Sort(abs)
	lim := abs[int(0.98*float64(len(abs)-1))]
	if lim <= 0 {
		lim = abs[len(abs)-1]
	}
	if lim <= 0 {
		return 1
	}
	return lim
}

// percentileRange returns the lo-th and hi-th quantiles (0..1) of the finite values of both
// hemispheres, widened by 1 on each side when they are equal; (-1, 1) when no value is
// finite.
func percentileRange(maps [2][]float32, lo, hi float64) (float32, float32) {
	var vals []float32
	for _, m := range maps {
		for _, v := range m {
			if !math.IsNaN(float64(v)) && !math.IsInf(float64(v), 0) {
				vals = append(vals, v)
			}
		}
	}
	if len(vals) == 0 {
		return -1, 1
	}
	slices.Sort(vals)
	a := vals[int(lo*float64(len(vals)-1))]
	b := vals[int(hi*float64(len(vals)-1))]
	if a >= b {
		a, b = a-1, b+1
	}
	return a, b
}

// hasDatasetImages reports whether a raw welcome message says that the server answers the
// dataset-image requests (images, measured, correlation): the "dataset_images" field of
// newer servers.
func hasDatasetImages(raw []byte) bool {
	var m struct {
		Welcome struct {
			DatasetImages bool `json:"dataset_images"`
		} `json:"welcome"`
	}
	return json.Unmarshal(raw, &m) == nil && m.Welcome.DatasetImages
}

// zDifference returns predicted minus measured after z-scoring each map over the finite
// values of both hemispheres (the two are in different units); NaN where either is not
// finite. A map without spread is only centred.
func zDifference(pred, meas [2][]float32) [2][]float32 {
	zp, zm := zscore(pred), zscore(meas)
	var out [2][]float32
	for h := range 2 {
		out[h] = make([]float32, len(zp[h]))
		for i := range zp[h] {
			if i < len(zm[h]) {
				out[h][i] = zp[h][i] - zm[h][i] // NaN propagates
			} else {
				out[h][i] = float32(math.NaN())
			}
		}
	}
	return out
}

func zscore(m [2][]float32) [2][]float32 {
	var sum, sq float64
	n := 0
	for _, hm := range m {
		for _, v := range hm {
			if !math.IsNaN(float64(v)) && !math.IsInf(float64(v), 0) {
				sum += float64(v)
				sq += float64(v) * float64(v)
				n++
			}
		}
	}
	mean, sd := 0.0, 1.0
	if n > 0 {
		mean = sum / float64(n)
		if v := sq/float64(n) - mean*mean; v > 0 {
			sd = math.Sqrt(v)
		}
	}
	var out [2][]float32
	for h, hm := range m {
		out[h] = make([]float32, len(hm))
		for i, v := range hm {
			if math.IsInf(float64(v), 0) {
				v = float32(math.NaN())
			}
			out[h][i] = float32((float64(v) - mean) / sd)
		}
	}
	return out
}

// finiteCount is the number of finite values of both hemispheres: the vertices a map colors.
func finiteCount(maps [2][]float32) int {
	n := 0
	for _, m := range maps {
		for _, v := range m {
			if !math.IsNaN(float64(v)) && !math.IsInf(float64(v), 0) {
				n++
			}
		}
	}
	return n
}
