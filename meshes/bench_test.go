package meshes

import (
	"bytes"
	"compress/gzip"
	"path/filepath"
	"testing"
)

// BenchmarkDecodeBundle measures DecodeBundle on the real fsaverage5 and
// full fsaverage bundles and reports their sizes: raw-bytes (the encoded
// bundle) and gzip-bytes (as served, best compression). The bundles are
// built from ../shared/data outside the timer.
func BenchmarkDecodeBundle(b *testing.B) {
	for _, res := range []string{"fsaverage5", "fsaverage"} {
		b.Run(res, func(b *testing.B) {
			data := sharedData(b)
			if !HasResolution(data, res) {
				b.Skipf("%s absent", filepath.Join(data, res))
			}
			bun, err := BuildBundle(data, res)
			if err != nil {
				b.Fatal(err)
			}
			raw, err := bun.MarshalBinary()
			if err != nil {
				b.Fatal(err)
			}
			var gz bytes.Buffer
			zw, _ := gzip.NewWriterLevel(&gz, gzip.BestCompression)
			zw.Write(raw)
			zw.Close()
			b.SetBytes(int64(len(raw)))
			for b.Loop() {
				if _, err := DecodeBundle(bytes.NewReader(raw)); err != nil {
					b.Fatal(err)
				}
			}
			// After the loop: resetting the timer drops reported metrics.
			b.ReportMetric(float64(len(raw)), "raw-bytes")
			b.ReportMetric(float64(gz.Len()), "gzip-bytes")
		})
	}
}

// BenchmarkBuildBundleFsaverage5 measures building the fsaverage5 bundle
// from the GIfTI sources, as the server does at start.
func BenchmarkBuildBundleFsaverage5(b *testing.B) {
	data := sharedData(b)
	for b.Loop() {
		if _, err := BuildBundle(data, "fsaverage5"); err != nil {
			b.Fatal(err)
		}
	}
}
